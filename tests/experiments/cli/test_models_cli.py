"""``cartsim models`` and model choice on the command line and in configs: listing, description, bad input."""

import pytest

from hybrid.models import MODELS


def test_models_lists_every_registered_model_on_one_line(cli):
    status, out, _ = cli(["models"])
    assert status == 0
    lines = out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(MODELS)


@pytest.mark.parametrize("name", list(MODELS))
def test_models_name_prints_species_reactions_and_every_parameter_with_unit_and_source(name, cli):
    status, out, _ = cli(["models", name])
    assert status == 0
    spec = MODELS[name]
    for sp in spec.species:
        assert f"  {sp} " in out
    for r in spec.reactions:
        assert r in out
    for p in spec.params:
        line = next(ln for ln in out.splitlines() if ln.split() and ln.split()[0] == p.name)
        assert p.unit in line
    assert out.count("source: ") >= len(spec.params)
    assert out.count("plausible in patients: ") == sum(p.plausible is not None for p in spec.params)


@pytest.mark.parametrize("argv, culprit", [
    (["models", "nosuch"], "kimmel2021, kimmel2021_bfeedback, kimmel2021_crs, kimmel2021_crs_feedback"),
    (["cure", "--n", "10", "--model", "nosuch"], "antigen_escape"),
    (["cure", "--n", "10", "--model", "kimmel2021", "--set", "mu_loss=1e-6"], "unknown parameter 'mu_loss'"),
    (["cure", "--n", "10", "--model", "antigen_escape", "--set", "f_neg=1.5"], "f_neg: must be a number >= 0 and <= 1"),
    (["patient", "--model", "antigen_escape", "--set", "eps_bystander=-0.1"], "eps_bystander"),
])
def test_bad_model_input_exits_2_naming_the_culprit(argv, culprit, cli):
    status, out, err = cli(argv)
    assert status == 2 and out == ""
    assert culprit in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("body, culprit", [
    ('model = "escape"', "cohort.model: must be one of"),
    ('model = "kimmel2021"\n[parameters]\nf_neg = 0.1', "unknown parameter 'f_neg' of model kimmel2021"),
    ('model = "antigen_escape"\n[parameters]\nf_neg = 2', "parameters.f_neg: must be a number >= 0 and <= 1"),
])
def test_bad_model_in_a_config_exits_2(body, culprit, tmp_path, cli):
    head, _, rest = body.partition("\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[cohort]\nn = 10\n{head}\n{rest}\n")
    status, _, err = cli(["run", str(cfg), "--out", str(tmp_path / "out")])
    assert status == 2 and culprit in err
    assert not (tmp_path / "out").exists()
