"""Input is data, never code: hostile SBML files, file names and data paths (issue 20, items 1-4)."""

from pathlib import Path

import pytest

from hybrid.catalog import get_model
from hybrid.sbml import export_sbml
from hybrid.sbml.reader import _cache_dir

MARKER = "pwned"


@pytest.fixture
def kimmel_xml(tmp_path) -> str:
    return Path(export_sbml(get_model("kimmel2021"), tmp_path / "k.xml")).read_text()


def _with_ci(text: str, payload: str) -> str:
    """The exported Kimmel model with its first ``<ci> B </ci>`` replaced by ``payload``."""
    i = text.index("<ci> B </ci>")
    return text[:i] + f"<ci>{payload}</ci>" + text[i + len("<ci> B </ci>"):]


def _generated_sources() -> dict[Path, str]:
    return {p: p.read_text() for p in _cache_dir().glob("cartsim_sbml_*.py")}


@pytest.mark.parametrize("payload", [
    f'B)\nopen("{MARKER}","w").write("{MARKER}")\ndef _z():\n    return (1',
    f' B + __import__("os").system("touch {MARKER}")',
    f"B;open('{MARKER}','w')",
])
def test_code_in_a_kinetic_law_never_runs(payload, kimmel_xml, tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.xml"
    evil.write_text(_with_ci(kimmel_xml, payload))
    before = _generated_sources()
    status, out, err = cli(["patient", "--sbml", evil, "--tumour", "B"])
    assert status == 2 and "is not defined in the model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / MARKER).exists()
    for path, text in _generated_sources().items():  # nothing of the payload reached any generated module
        assert path in before or ("open" not in text and "__import__" not in text and MARKER not in text)


def test_code_in_a_file_name_never_runs(kimmel_xml, tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    name = f'm""";open("{MARKER}","w").write("x");"""n.xml'
    (tmp_path / name).write_text(kimmel_xml)
    status, out, _ = cli(["trajectory", "--sbml", tmp_path / name, "--tumour", "B", "--t-end", "2"])
    assert status == 0 and out.startswith("t_days")
    assert not (tmp_path / MARKER).exists()
    for text in _generated_sources().values():
        assert MARKER not in text and '"""n' not in text


def test_generated_code_holds_only_the_importers_names(tmp_path):
    """The curated model's ids (Normal_T_cells, ...) appear nowhere in its generated module."""
    from hybrid.sbml import load_sbml
    from hybrid.sbml.reader import _gather, _read, _source

    path = Path("experiments/data/sbml/BIOMD0000001041.xml")
    m = _read(path).getModel()
    src = _source(path, m, _gather(path, m, "Antigen_presenting_tumour_cells"))
    for s in m.getListOfSpecies():
        assert s.getId() not in src
    assert path.name not in src
    spec = load_sbml(path, "Antigen_presenting_tumour_cells", "CAR_T_cells", "Normal_T_cells")
    assert spec.linear_tumour


@pytest.mark.parametrize(("replacement", "message"), [
    ("<infinity/>", "not supported in a rate law"),
    ("<notanumber/>", "not supported in a rate law"),
    ("<ci> undefined_thing </ci>", "'undefined_thing' is not defined in the model"),
])
def test_bad_math_is_one_line(replacement, message, kimmel_xml, tmp_path, cli):
    i = kimmel_xml.index("<ci> B </ci>")
    bad = tmp_path / "bad.xml"
    bad.write_text(kimmel_xml[:i] + replacement + kimmel_xml[i + len("<ci> B </ci>"):])
    status, _, err = cli(["patient", "--sbml", bad, "--tumour", "B"])
    assert status == 2 and message in err and "Traceback" not in err


def test_a_rate_divided_by_zero_is_one_line(kimmel_xml, tmp_path, cli):
    i = kimmel_xml.index("<ci> B </ci>")
    bad = tmp_path / "div0.xml"
    bad.write_text(kimmel_xml[:i] + "<apply><divide/><ci> B </ci><cn> 0 </cn></apply>"
                   + kimmel_xml[i + len("<ci> B </ci>"):])
    status, _, err = cli(["patient", "--sbml", bad, "--tumour", "B"])
    assert status == 2 and "at the initial state" in err


# -- item 4: data paths read only as data, never shown ------------------------------------------------------
def test_a_data_path_never_shows_the_files_contents(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("CARTSIM_TEST_SECRET", "s3cr3t-value-1")
    for target in ("/proc/self/environ", "/etc/os-release"):
        first = Path(target).read_bytes()[:60].decode("latin-1").split("\n")[0].split("\0")[0]
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[cohort]\nn = 10\n[output]\nobserved_pfs_csv = "{target}"\n')
        status, _, err = cli(["run", cfg, "--out", tmp_path / "out"])
        assert status == 2 and len(err.strip().splitlines()) == 1
        assert "s3cr3t-value-1" not in err and first not in err


# -- items 6, 7, 17: bounded input -------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["kinetics_csv", "pfs_csv"])
def test_a_device_as_data_is_refused_before_reading(key, tmp_path, cli):
    cfg = tmp_path / "f.toml"
    cfg.write_text(Path("experiments/configs/calibrate_pfs.toml").read_text().replace(
        'pfs_csv = "../data/synthetic_pfs.csv"', f'{key} = "/dev/zero"'))
    status, _, err = cli(["fit", cfg, "--out", tmp_path / "out"])
    assert status == 2 and "not a regular file" in err and not (tmp_path / "out").exists()


def test_a_prior_from_a_device_is_refused(tmp_path, cli):
    cfg = tmp_path / "p.toml"
    text = Path("experiments/configs/predict_patient.toml").read_text()
    text = text.replace('kinetics_csv = "../data/example_patient.csv"',
                        f'kinetics_csv = "{Path("experiments/data/example_patient.csv").resolve()}"')
    cfg.write_text(text + '\n[prior]\nfrom = "/dev/zero"\n' if "[prior]" not in text else
                   text.replace("[prior]", '[prior]\nfrom = "/dev/zero"', 1))
    status, _, err = cli(["predict", cfg, "--out", tmp_path / "out"])
    assert status == 2 and "not a regular file" in err


def test_an_oversized_input_is_refused(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("CARTSIM_MAX_INPUT_MB", "0.001")
    cfg = tmp_path / "big.toml"
    cfg.write_text("# padding\n" * 200 + "[cohort]\nn = 10\n")
    status, _, err = cli(["run", cfg, "--out", tmp_path / "out"])
    assert status == 2 and "over the limit" in err


@pytest.mark.parametrize(("argv", "culprit"), [
    (["trajectory", "--set", "K_C=1e-300"], "parameter K_C: must be a number >= 1e-06 and <= 1e+15"),
    (["trajectory", "--set", "K_C=1e300"], "parameter K_C: must be a number >= 1e-06 and <= 1e+15"),
    (["patient", "--set", "K_C=1e300"], "parameter K_C"),
    (["trajectory", "--set", "r_B=50"], "the ODE solver gave up"),
    (["trajectory", "--t-end", "8000"], "the ODE solver gave up"),
    (["trajectory", "--t-end", "1e308", "--dt", "1e-300"], "t_end: must be a number > 0 and <= 36525"),
    (["trajectory", "--t-end", "30000", "--dt", "1e-320"], "at most 10,000,000 rows"),
])
def test_runaway_solves_end_in_one_line(argv, culprit, cli):
    status, _, err = cli(argv)
    assert status == 2 and culprit in err and len(err.strip().splitlines()) == 1, err


def test_the_step_budget_is_reported_not_a_number():
    """The kernels' give-up flag reaches the entry points as an error, never as a NaN result (the exact oracle
    of this patient is fine: Kendall's solve holds no tumour to overflow, and P(cure) = 0 is its answer)."""
    import numpy as np

    import hybrid
    from hybrid.errors import CartsimError

    p = hybrid.Parameters.from_preset(None, r_B=50)
    for call in (lambda: hybrid.mean_field([p], np.array([0.0, 100.0])),
                 lambda: hybrid.solve_trajectory(p, np.linspace(0.0, 100.0, 11))):
        with pytest.raises(CartsimError, match="gave up"):
            call()


def test_populations_are_never_negative(cli):
    import io

    import pandas as pd

    status, out, _ = cli(["trajectory", "--set", "rho_C=1000", "--t-end", "60"])
    assert status == 0 and (pd.read_csv(io.StringIO(out)).drop(columns="t_days") >= 0).all().all()


# -- item 8: fits that cannot hang --------------------------------------------------------------------------
def test_kinetics_beyond_follow_up_is_refused(tmp_path, cli):
    csv = tmp_path / "k.csv"
    csv.write_text("patient,day,car_t_per_ul\n1,1e5,10\n")
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'kind = "fit"\n[data]\nkinetics_csv = "{csv}"\n[free.K_C]\nbounds = [1e10, 1e12]\n')
    status, _, err = cli(["fit", cfg, "--out", tmp_path / "out"])
    assert status == 2 and "beyond the follow-up" in err


def test_absurd_fit_bounds_are_refused(tmp_path, cli):
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'kind = "fit"\n[data]\nkinetics_csv = "{Path("experiments/data/example_patient.csv").resolve()}"'
                   '\n[free.K_C]\nbounds = [1e-300, 1e300]\n')
    status, _, err = cli(["fit", cfg, "--out", tmp_path / "out"])
    assert status == 2 and "K_C" in err and "1e+15" in err, err


# -- item 11: validation in linear time --------------------------------------------------------------------
def test_a_huge_sbml_model_is_refused_by_its_size(tmp_path, cli):
    import libsbml

    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    c = m.createCompartment()
    c.setId("c"), c.setSize(1), c.setConstant(True)
    for i in range(2500):
        s = m.createSpecies()
        s.setId(f"S{i}"), s.setCompartment("c"), s.setInitialAmount(1.0), s.setConstant(False)
        s.setHasOnlySubstanceUnits(True), s.setBoundaryCondition(False)
    libsbml.writeSBMLToFile(doc, str(tmp_path / "big.xml"))
    status, _, err = cli(["patient", "--sbml", tmp_path / "big.xml", "--tumour", "S0"])
    assert status == 2 and "2,500 species" in err


def test_per_patient_kinetics_of_many_patients_are_checked_per_patient(tmp_path):
    """Linear validation: a day out of order in one patient of thousands is found and named."""
    from experiments.trial_data import load_kinetics
    from hybrid.errors import CartsimError

    rows = [f"p{k},{d},5" for k in range(4000) for d in (1, 7, 14)]
    rows[3 * 2500 + 2] = "p2500,3,5"
    csv = tmp_path / "k.csv"
    csv.write_text("patient,day,car_t_per_ul\n" + "\n".join(rows) + "\n")
    with pytest.raises(CartsimError, match="patient 'p2500'"):
        load_kinetics(csv)


# -- items 14-17: wrong answers ------------------------------------------------------------------------------
def test_an_output_directory_is_owned_by_one_run(tmp_path):
    from experiments.outputs import owned_out_dir
    from hybrid.errors import CartsimError

    with owned_out_dir(tmp_path / "out", "cartsim run"):
        with pytest.raises(CartsimError, match="another cartsim run is writing there"):
            with owned_out_dir(tmp_path / "out", "cartsim run"):
                pass
    with owned_out_dir(tmp_path / "out", "cartsim run"):  # released when the first run ends
        pass


def test_patient_ids_are_text(tmp_path):
    from experiments.trial_data import load_kinetics

    csv = tmp_path / "k.csv"
    csv.write_text("patient,day,car_t_per_ul\n01,1,5\n01,7,9\n1,1,4\n1,7,8\n")
    assert load_kinetics(csv).patients == ["01", "1"]


def test_a_one_observation_fit_reports_no_correlations(tmp_path, cli):
    import json

    csv = tmp_path / "one.csv"
    csv.write_text("patient,day,car_t_per_ul\nA,7,20\n")
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'kind = "fit"\n[data]\nkinetics_csv = "{csv}"\n[free.K_C]\nbounds = [1e10, 5e11]\n'
                   '[free.rho_C]\nbounds = [0.005, 0.1]\n')
    status, _, err = cli(["fit", cfg, "--out", tmp_path / "out"])
    assert status == 0, err
    ident = json.loads((tmp_path / "out" / "fit.json").read_text())["patients"]["A"]["identifiability"]
    assert ident["correlation"] is None and {"K_C", "rho_C"} <= set(ident["not_identifiable"])


def test_an_sbml_cohort_with_a_preset_is_told_so(tmp_path, cli):
    export_sbml(get_model("kimmel2021"), tmp_path / "k.xml")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[cohort]\nn = 10\nsbml = "k.xml"\ntumour = "B"\npreset = "kimmel2021"\n')
    status, _, err = cli(["run", cfg, "--out", tmp_path / "out"])
    assert status == 2 and "has no presets" in err and "one of ," not in err


def test_export_sbml_dash_is_standard_output(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, _ = cli(["export-sbml", "--model", "kimmel2021", "-"])
    assert status == 0 and out.lstrip().startswith("<?xml") and not (tmp_path / "-").exists()


# -- items 9, 17, 19: processes, huge times, wording -------------------------------------------------------
def test_a_killed_fit_leaves_no_process_behind(tmp_path):
    """A fit computes its rounds on threads of its own process (the exact kernels release the GIL): seen
    mid-computation it has no child process, so killing it orphans nothing. (Spatial runs do use worker
    processes: tests/test_reliability.py kills one of those.)"""
    import os
    import signal
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "fit", "experiments/configs/calibrate_pfs.toml",
                             "--workers", "2", "--quiet", "--out", str(tmp_path / "o")],
                            env={**os.environ, "MPLBACKEND": "Agg"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        cpu = parent.cpu_times()
        if cpu.user + cpu.system > 6.0:  # past start-up (about 3 s of CPU): simulating rounds
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the fit ended before it was seen computing"
    children = []
    for c in parent.children(recursive=True):
        try:
            if "resource_tracker import" not in " ".join(c.cmdline()):
                children.append(c.pid)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert children == [], f"the fit started processes that could outlive it: {children}"


def test_a_curve_beyond_follow_up_is_named(tmp_path):
    from experiments.trial_data import load_km
    from hybrid.errors import CartsimError

    csv = tmp_path / "km.csv"
    csv.write_text("months,pfs\n3,0.8\n1e6,0.5\n")
    with pytest.raises(CartsimError, match=r"row 3: months 1e6 .* beyond the follow-up of 730 days"):
        load_km(csv, 730.0)


def test_a_terminated_fit_does_not_promise_resume(monkeypatch, cli):
    from experiments import cli as cli_module
    from experiments.cli.run import Terminated

    def stopped(args):
        raise Terminated

    parser = cli_module.build_parser

    def patched():
        p = parser()
        for action in p._subparsers._group_actions[0].choices.values():
            if action.prog.endswith(" fit"):
                action.set_defaults(handler=stopped)
        return p

    monkeypatch.setattr(cli_module, "build_parser", patched)
    status, _, err = cli(["fit", "experiments/configs/calibrate_pfs.toml", "--out", "unused"])
    assert status == 143 and "terminated" in err and "--resume" not in err


def test_the_compile_notice_is_given_once(tmp_path):
    from hybrid import jitcache

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "k.py").write_text("x = 1\n")
    assert jitcache.refresh(pkg) is True  # first use: say it
    assert jitcache.refresh(pkg) is False  # nothing compiled yet (a failed run), sources unchanged: silent
    (pkg / "k.py").write_text("x = 22\n")
    assert jitcache.refresh(pkg) is True


def test_the_integrator_gives_up_past_its_budget_of_rejections():
    """The budget itself (the parameter ranges keep every shipped model far from it): past MAX_REJECTED, or on
    a non-finite error, a step poisons its result and marks the integration failed; otherwise it is as tried."""
    import numpy as np

    from hybrid import integrator as ig

    ctx, ynew, K = np.zeros(ig.CTX_SIZE), np.ones(3), np.ones((7, 3))
    assert ig._over_budget(ctx, 1.0, 0.5, 2.0, ynew, K) == (0.5, 2.0) and ctx[ig.CTX_FAILED] == 0
    ctx[ig.CTX_STEPS] = ig.MAX_REJECTED + 1
    assert ig._over_budget(ctx, 1.0, 0.5, 2.0, ynew, K) == (1.0, 0.0)
    assert ctx[ig.CTX_FAILED] == 1 and np.isnan(ynew).all() and np.isnan(K[6]).all()
    ctx = np.zeros(ig.CTX_SIZE)
    ig._over_budget(ctx, 1.0, 0.5, np.nan, np.ones(3), np.ones((7, 3)))
    assert ctx[ig.CTX_FAILED] == 1
