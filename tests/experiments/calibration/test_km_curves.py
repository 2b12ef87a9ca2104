"""Published curves as they are digitised (a month-0 row, vertical steps, with or without numbers at risk) read
by the one Kaplan–Meier reader and fitted end to end, figures included."""

import numpy as np
import pandas as pd
import pytest

from experiments.paths import CONFIGS, DATA
from experiments.trial_data import load_km
from hybrid.errors import CartsimError
from hybrid.units import DAYS_PER_MONTH


def _shipped_curve() -> pd.DataFrame:
    return pd.read_csv(DATA / "synthetic_pfs.csv", comment="#")


def _fit(tmp_path, cli, curve: pd.DataFrame, n_patients: int | None = None) -> None:
    csv = tmp_path / "km.csv"
    curve.to_csv(csv, index=False)
    text = (CONFIGS / "calibrate_pfs.toml").read_text().replace('"../data/synthetic_pfs.csv"', f'"{csv}"')
    text = text.replace("starts = 3", "starts = 1").replace("virtual_patients = 20000",
                                                             "virtual_patients = 2000\nmin_ess = 200\nconfirm = false")
    if n_patients is not None:
        text = text.replace("[data]", f"[data]\nn_patients = {n_patients}")
    cfg = tmp_path / "f.toml"
    cfg.write_text(text)
    status, _, err = cli(["fit", cfg, "--out", tmp_path / "out"])
    assert status == 0, err
    assert (tmp_path / "out" / "pfs.png").stat().st_size > 1000


def test_a_month_zero_row_fits_end_to_end_with_figures(tmp_path, cli):
    c = _shipped_curve()
    zero = pd.DataFrame({"months": [0.0], "pfs": [1.0], "n_at_risk": [c["n_at_risk"].iloc[0]]})
    _fit(tmp_path, cli, pd.concat([zero, c], ignore_index=True))


def test_vertical_steps_are_read_as_their_foot_and_fit_end_to_end(tmp_path, cli):
    c = _shipped_curve()
    tops = c.iloc[1:].copy()
    tops["pfs"] = c["pfs"].to_numpy()[:-1]  # each step's top: the previous level, at the step's time
    tops["n_at_risk"] = c["n_at_risk"].to_numpy()[:-1]
    stepped = pd.concat([tops, c]).sort_values(["months", "pfs"], ascending=[True, False], kind="stable")
    csv = tmp_path / "steps.csv"
    stepped.to_csv(csv, index=False)
    km = load_km(csv)
    np.testing.assert_allclose(km.days, c["months"].to_numpy() * DAYS_PER_MONTH)
    np.testing.assert_array_equal(km.pfs, c["pfs"].to_numpy())
    np.testing.assert_array_equal(km.n_at_risk, c["n_at_risk"].to_numpy())
    _fit(tmp_path, cli, stepped)


def test_a_curve_without_numbers_at_risk_fits_with_the_trials_size(tmp_path, cli):
    _fit(tmp_path, cli, _shipped_curve()[["months", "pfs"]], n_patients=1000)


@pytest.mark.parametrize(("rows", "message"), [
    ("months,pfs\n3,0.9\n2,0.8\n", "out of order"),
    ("months,pfs\n3,0.8\n3,0.9\n", "cannot increase"),
    ("months,pfs\n0,0.9\n3,0.8\n", "starts at PFS 1"),
    ("months,pfs\n3,0.9\n30,0.8\n", "row 3"),
])
def test_a_curve_that_cannot_be_is_refused_naming_the_row(tmp_path, rows, message):
    csv = tmp_path / "bad.csv"
    csv.write_text(rows)
    with pytest.raises(CartsimError, match=message):
        load_km(csv, max_days=730.0)
