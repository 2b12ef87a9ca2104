"""``cartsim trajectory / patient / cure``: output forms, reproducibility across workers, bad input."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from hybrid import Parameters, simulate_batch


def test_trajectory_csv_has_one_row_per_dt_inclusive(cli):
    status, out, _ = cli(["trajectory", "--t-end", "10", "--dt", "2.5", "--set", "C0=2e8"])
    assert status == 0
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == ["t_days", "N", "C", "B"]
    np.testing.assert_allclose(df["t_days"], [0, 2.5, 5, 7.5, 10])
    p = Parameters.from_preset("kimmel2021")
    assert df.loc[0, ["N", "C", "B"]].tolist() == [p.N0, 2e8, p.B0]


def test_patient_json_readouts(cli):
    status, out, _ = cli(["patient", "--seed", "5", "--t-end", "365"])
    assert status == 0
    doc = json.loads(out)
    for key in ("outcome", "t_event_days", "nadir_cells", "nadir_day", "cart_peak_cells", "cart_peak_day",
                "cart_auc_0_28", "p_cure_exact"):
        assert key in doc
    assert doc["outcome"] in ("cure", "progression", "censored")
    assert 0 < doc["cart_peak_day"] < 28
    assert 0.0 <= doc["p_cure_exact"] <= 1.0


def test_cure_is_identical_whatever_the_number_of_workers(cli):
    argv = ["cure", "--n", "1100", "--seed", "3", "--quiet"]
    s1, one, _ = cli([*argv, "--workers", "1"])
    s2, two, _ = cli([*argv, "--workers", "2"])
    assert s1 == s2 == 0

    def result(text):  # the provenance records when each ran (times to the second), not what it found
        return {k: v for k, v in json.loads(text).items() if k != "provenance"}

    assert result(one) == result(two)
    doc = json.loads(one)
    assert doc["n"] == 1100 and sum(doc["outcomes"].values()) == 1100
    assert set(doc["time_to_cure_days"]) >= {"q10", "q50", "q90"}
    assert abs(doc["p_cure"] - doc["p_cure_exact"]) < 4 * doc["p_cure_se"]


def test_batches_do_not_depend_on_chunking():
    p = Parameters.from_preset("kimmel2021")
    seeds = np.random.SeedSequence(9).spawn(40)
    whole = simulate_batch([p] * 40, seeds, exact=False)
    parts = pd.concat([simulate_batch([p] * 15, seeds[:15], exact=False),
                       simulate_batch([p] * 25, seeds[15:], exact=False)], ignore_index=True)
    pd.testing.assert_frame_equal(whole, parts)


@pytest.mark.parametrize(
    ("argv", "culprit"),
    [
        (["cure", "--set", "K_X=1"], "K_X"),
        (["cure", "--set", "K_C=lots"], "K_C"),
        (["patient", "--set", "r_B=-0.1"], "r_B"),
        (["cure", "--set", "K_C"], "KEY=VALUE"),
        (["cure", "--threshold", "0.5"], "threshold"),
        (["cure", "--n", "0"], "--n"),
        (["cure", "--workers", "0"], "--workers"),
        (["patient", "--method", "exact"], "--method"),
        (["trajectory", "--preset", "nope"], "nope"),
        (["trajectory", "--dt", "0"], "--dt"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_culprit(argv, culprit, cli):
    status, out, err = cli(argv)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0]
