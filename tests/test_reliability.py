"""Hostile inputs and environments: every command exits 2 with one line naming the culprit, no traceback,
nothing half-written; workers die with their parent; damaged chunks are re-simulated; a run owns its output
directory; an override that cannot take effect is an error; resume says what it does."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.cli import main as cartsim
from experiments.cli.run import run_config
from experiments.cohort.runner import run_cohort
from experiments.cohort.spec import load_spec
from experiments.outputs import CHUNK_DIR
from experiments.paths import CONFIGS

PFS = str(CONFIGS / "event_times.toml")


@pytest.fixture
def readonly_dir(tmp_path):
    """A read-only directory: a read-only bind mount where the machine allows it, else /proc/self (never
    writable)."""
    src, mnt = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    mnt.mkdir()
    if subprocess.run(["mount", "--bind", "-o", "ro", str(src), str(mnt)], capture_output=True).returncode == 0:
        yield mnt
        subprocess.run(["umount", str(mnt)], capture_output=True)
    else:
        yield Path("/proc/self")


def _hostile(tmp_path: Path, readonly: Path) -> dict[str, tuple[list[str], str]]:
    afile = tmp_path / "afile"
    afile.write_text("x")
    latin = tmp_path / "latin1.toml"
    latin.write_bytes('title = "K\xe4se"\n'.encode("latin-1"))
    fit = str(CONFIGS / "calibrate_pfs.toml")
    pred = str(CONFIGS / "predict_patient.toml")
    return {
        "trajectory_unknown_parameter": (["trajectory", "--set", "K_Q=1"], "K_Q"),
        "trajectory_negative": (["trajectory", "--set", "r_B=-1"], "r_B"),
        "trajectory_too_many_rows": (["trajectory", "--dt", "1e-9", "--t-end", "730"], "GiB"),
        "trajectory_unknown_model": (["trajectory", "--model", "nope"], "nope"),
        "trajectory_unknown_preset": (["trajectory", "--preset", "nope"], "nope"),
        "patient_threshold": (["patient", "--threshold", "0.5"], "threshold"),
        "patient_negative_seed": (["patient", "--seed", "-1"], "--seed"),
        "cure_n_zero": (["cure", "--n", "0"], "--n"),
        "cure_n_above_cap": (["cure", "--n", "100000000000"], "--n"),
        "cure_workers_zero": (["cure", "--workers", "0"], "--workers"),
        "run_missing_config": (["run", str(tmp_path / "none.toml")], "not found"),
        "run_directory_config": (["run", str(tmp_path)], "is a directory"),
        "run_latin1_config": (["run", str(latin)], "UTF-8"),
        "run_out_is_file": (["run", PFS, "--out", str(afile)], "is a file"),
        "run_out_under_file": (["run", PFS, "--out", str(afile / "sub")], "is a file"),
        "run_out_readonly": (["run", PFS, "--out", str(readonly / "out")], "not writable"),
        "run_n_above_cap": (["run", PFS, "--set", "cohort.n=10000000000"], "cohort.n"),
        "run_unknown_key": (["run", PFS, "--set", "cohort.nn=3"], "cohort.nn"),
        "run_fit_config": (["run", fit], "cartsim fit"),
        "abm_out_is_file": (["abm", "--steps", "2", "--out", str(afile)], "is a file"),
        "abm_out_readonly": (["abm", "--steps", "2", "--out", str(readonly / "out")], "not writable"),
        "abm_bad_value": (["abm", "--set", "kill_prob_max=2"], "kill_prob_max"),
        "fit_out_readonly": (["fit", fit, "--out", str(readonly / "out")], "not writable"),
        "fit_unknown_free": (["fit", fit, "--set", "free.K_Q.sigma=[0.1, 1.0]"], "K_Q"),
        "predict_bad_sigma": (["predict", pred, "--set", "data.error_sigma=-1"], "error_sigma"),
        "predict_out_is_file": (["predict", pred, "--out", str(afile)], "is a file"),
    }


CASES = ["trajectory_unknown_parameter", "trajectory_negative", "trajectory_too_many_rows",
         "trajectory_unknown_model", "trajectory_unknown_preset", "patient_threshold", "patient_negative_seed",
         "cure_n_zero", "cure_n_above_cap", "cure_workers_zero", "run_missing_config", "run_directory_config",
         "run_latin1_config", "run_out_is_file", "run_out_under_file", "run_out_readonly", "run_n_above_cap",
         "run_unknown_key", "run_fit_config", "abm_out_is_file", "abm_out_readonly", "abm_bad_value",
         "fit_out_readonly", "fit_unknown_free", "predict_bad_sigma", "predict_out_is_file"]


@pytest.mark.parametrize("case", CASES)
def test_hostile_input_exits_2_with_one_line(tmp_path, readonly_dir, capsys, case):
    argv, fragment = _hostile(tmp_path, readonly_dir)[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    try:
        code = cartsim(argv)
    except SystemExit as exc:  # argparse's own refusals (an unknown choice)
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert fragment in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing half-written


def test_workers_die_with_a_killed_parent(tmp_path):
    """Worker processes (the spatial runs use them; cohorts run on threads of the runner) do not outlive it."""
    psutil = pytest.importorskip("psutil")
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "run", str(CONFIGS / "abm_route.toml"),
                             "--workers", "2", "--quiet", "--out", str(tmp_path / "o")],
                            env={**os.environ, "MPLBACKEND": "Agg"})
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    children = []

    def workers():
        out = []
        for c in parent.children(recursive=True):
            try:  # a short-lived helper process may already be a zombie: not a worker
                if "resource_tracker import" not in " ".join(c.cmdline()):
                    out.append(c)
            except (psutil.ZombieProcess, psutil.NoSuchProcess):
                pass
        return out

    while time.monotonic() < deadline and len(children) < 2:
        children = workers()
        time.sleep(0.1)
    assert len(children) >= 2, f"the pool never started (exit {proc.poll()})"
    everyone = parent.children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(everyone, timeout=10)
    assert not alive, f"survived their parent: {[p.pid for p in alive]}"


def test_damaged_chunk_is_resimulated_and_named(tmp_path, capsys):
    sets = ["cohort.n=60", "output.figures=false"]
    run_config(PFS, sets, tmp_path / "full", workers=1, chunk_size=10)
    calls = []

    def stop(k):
        calls.append(k)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cohort(load_spec(PFS, sets), tmp_path / "cut", workers=1, chunk_size=10, on_chunk=stop)
    damaged = sorted((tmp_path / "cut" / CHUNK_DIR).glob("chunk-*.parquet"))[1]
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated outside cartsim
    capsys.readouterr()
    run_config(PFS, sets, tmp_path / "cut", workers=1, resume=True)
    err = capsys.readouterr().err
    assert f"{damaged.name} is damaged" in err
    assert (tmp_path / "full" / "patients.parquet").read_bytes() == (tmp_path / "cut" / "patients.parquet").read_bytes()


def test_resume_and_rerun_say_what_they_do(tmp_path, capsys):
    sets = ["cohort.n=40", "output.figures=false"]

    def stop(k):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cohort(load_spec(PFS, sets), tmp_path, workers=1, chunk_size=10, on_chunk=stop)
    capsys.readouterr()
    run_config(PFS, sets, tmp_path, workers=1, chunk_size=10)  # no --resume: the finished chunk is dropped
    assert "discarding 1 finished chunk" in capsys.readouterr().err
    run_config(PFS, sets, tmp_path, workers=1, chunk_size=10, resume=True)  # nothing to resume
    err = capsys.readouterr().err
    assert "had finished; there is nothing to resume" in err and "simulating afresh" in err


def test_a_run_owns_its_output_directory(tmp_path, capsys):
    out = tmp_path / "out"
    run_config(PFS, ["cohort.n=30", "output.kinetics_patients=0"], out, workers=1)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs
    (out / "my_notes.txt").write_text("keep me")
    capsys.readouterr()
    run_config(PFS, ["cohort.n=30", "output.figures=false"], out, workers=1)
    assert "replacing the earlier run's outputs" in capsys.readouterr().err
    assert not list(out.glob("*.png")), "stale figures of the earlier run remain"
    assert (out / "my_notes.txt").read_text() == "keep me"
    # a directory no cartsim run claims is refused, unless told to overwrite
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "pfs.png").write_text("old")
    (foreign / "data.csv").write_text("x")
    assert cartsim(["run", PFS, "--set", "cohort.n=30", "--out", str(foreign), "--quiet"]) == 2
    assert "no cartsim run claims" in capsys.readouterr().err
    assert cartsim(["run", PFS, "--set", "cohort.n=30", "--set", "output.figures=false", "--out", str(foreign),
                    "--quiet", "--overwrite"]) == 0
    assert not (foreign / "pfs.png").exists() and (foreign / "data.csv").exists()
    assert (foreign / "patients.parquet").exists()


def test_an_override_that_cannot_take_effect_is_an_error(capsys):
    pfs = str(CONFIGS / "kimmel2021_pfs.toml")
    assert cartsim(["run", pfs, "--set", "parameters.r_B=0.3"]) == 2
    err = capsys.readouterr().err
    assert "has no effect" in err and "[groups.slow]" in err
