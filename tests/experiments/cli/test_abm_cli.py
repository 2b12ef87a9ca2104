"""``cartsim abm``: JSON output, files written with --out, exit status 2 on bad input."""

import json

import pandas as pd
import pytest
from PIL import Image

from experiments.cli import main


def cartsim(argv: list[str]) -> int:
    """``cartsim ARGV`` in-process; argparse's own errors come back as their exit status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _json(capsys, argv):
    assert cartsim(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_output_keys(capsys):
    out = _json(capsys, ["abm", "--scenario", "uniform_high", "--width", "40", "--height", "40", "--seed", "3",
                         "--format", "json"])
    for key in ("eliminated", "tumour_cells", "antigen_negative_fraction", "car_t_cells", "steps"):
        assert key in out
    assert isinstance(out["eliminated"], bool) and out["width"] == 40
    assert out["eliminated"] == (out["tumour_cells"] == 0)


def test_set_overrides_are_typed_and_applied(capsys):
    out = _json(capsys, ["abm", "--scenario", "mixed_negative", "--width", "30", "--height", "30", "--steps", "5",
                         "--set", "moves_per_step=2", "--set", "pattern=clustered", "--set", "et_ratio=0.5",
                         "--format", "json"])
    assert out["parameters"]["moves_per_step"] == 2 and out["parameters"]["pattern"] == "clustered"
    assert out["steps"] == 5 and out["antigen_negative_fraction"] > 0.2


@pytest.mark.parametrize("argv,fragment", [
    (["--scenario", "no_such"], "uniform_high"),
    (["--set", "no_such=1"], "accepted names"),
    (["--set", "kill_prob_max=2"], "kill_prob_max"),
    (["--set", "kill_prob_max=lots"], "must be a number"),
    (["--set", "route=oral"], "intratumoural"),
    (["--set", "novalue"], "KEY=VALUE"),
    (["--width", "3"], "width"),
    (["--steps", "0"], "--steps"),
    (["--format", "xml"], "json"),
])
def test_bad_input_exit_status_2(capsys, argv, fragment):
    assert cartsim(["abm", *argv]) == 2
    err = capsys.readouterr().err
    assert "error" in err and fragment in err and len(err.strip().splitlines()) == 1


def test_out_writes_series_snapshots_and_gif(tmp_path, capsys):
    out = _json(capsys, ["abm", "--scenario", "clustered_negative", "--width", "40", "--height", "40",
                         "--steps", "30", "--out", str(tmp_path), "--format", "json"])
    series = pd.read_parquet(tmp_path / "series.parquet")
    assert len(series) == out["steps"] + 1 and "antigen_negative_fraction" in series
    pngs = sorted(tmp_path.glob("snapshot_*.png"))
    assert len(pngs) >= 2
    gif = Image.open(tmp_path / "animation.gif")
    assert gif.n_frames > 5
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == out["steps"]
