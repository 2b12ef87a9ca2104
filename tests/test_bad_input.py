"""Bad input generated from the constraint declarations (:func:`hybrid.constraints.invalid_values`, after
scikit-learn's ``generate_invalid_param_val``): every parameter of every model, every simulation option, every
dose field, every ABM parameter and every cohort-config value is refused by name. A parameter or option added
tomorrow is covered here without a line written for it."""

import pytest

from abm.params import PARAMS as ABM_PARAMS
from abm.params import validate_params
from experiments.cohort.spec import validate
from hybrid import MODELS, CartsimError, Dose, Parameters, SimOptions
from hybrid.constraints import Interval, invalid_values
from hybrid.options import DOSE_CONSTRAINTS, OPTION_CONSTRAINTS

MODEL_PARAMETERS = [(m, p.name) for m, spec in MODELS.items() for p in spec.params]
CONFIG_OPTIONS = {"follow_up_days": "t_end", "threshold": "threshold", "method": "method",
                  "hysteresis": "hysteresis", "progression_factor": "progression_factor"}
"""[cohort] keys and the SimOptions field each one sets."""


def test_every_constraint_kind_has_invalid_values_it_refuses():
    for constraint in [*OPTION_CONSTRAINTS.values(), *(c for c, _ in DOSE_CONSTRAINTS.values()),
                       *(p.bounds for spec in MODELS.values() for p in spec.params),
                       *(p.constraint for p in ABM_PARAMS.values())]:
        bad = invalid_values(constraint)
        assert bad, constraint
        for v in bad:
            with pytest.raises(ValueError, match="must be"):
                constraint.check("x", v, error=ValueError)


def test_invalid_values_lie_just_beyond_each_bound():
    bad = invalid_values(Interval(lo=1.0, hi=2.0, hi_open=True, integer=True))
    assert 2.0 in bad and any(0.99 < v < 1.0 for v in bad if isinstance(v, float)) and 2.5 in bad


@pytest.mark.parametrize(("model", "name"), MODEL_PARAMETERS)
def test_every_model_parameter_refuses_its_invalid_values_by_name(model, name):
    for value in invalid_values(MODELS[model].param_specs[name].bounds):
        with pytest.raises(CartsimError, match=f"parameter {name}"):
            Parameters.from_preset(None, model, **{name: value})


@pytest.mark.parametrize("name", list(OPTION_CONSTRAINTS))
def test_every_option_refuses_its_invalid_values_by_name(name):
    for value in invalid_values(OPTION_CONSTRAINTS[name]):
        with pytest.raises(CartsimError, match=name):
            SimOptions(**{name: value})


@pytest.mark.parametrize("name", list(DOSE_CONSTRAINTS))
def test_every_dose_field_refuses_its_invalid_values_by_name(name):
    for value in invalid_values(DOSE_CONSTRAINTS[name][0]):
        kw = {"day": 1.0, name: value}
        with pytest.raises(CartsimError, match=f"dose {name}"):
            Dose(**kw)


@pytest.mark.parametrize("name", list(ABM_PARAMS))
def test_every_abm_parameter_refuses_its_invalid_values_by_name(name):
    for value in invalid_values(ABM_PARAMS[name].constraint):
        with pytest.raises(CartsimError, match=repr(name)):
            validate_params({name: value})


@pytest.mark.parametrize("name", MODELS["kimmel2021"].param_names)
def test_every_config_parameter_value_is_refused_naming_its_key(name):
    for value in invalid_values(MODELS["kimmel2021"].param_specs[name].bounds):
        if value is None:  # TOML has no null: a config cannot hold it
            continue
        with pytest.raises(CartsimError, match=f"my.toml: parameters.{name}"):
            validate({"parameters": {name: value}}, "my.toml")


@pytest.mark.parametrize("key", list(CONFIG_OPTIONS))
def test_every_config_option_is_refused_naming_its_key(key):
    for value in invalid_values(OPTION_CONSTRAINTS[CONFIG_OPTIONS[key]]):
        if value is None:
            continue
        with pytest.raises(CartsimError, match=f"my.toml: cohort.{key}"):
            validate({"cohort": {key: value}}, "my.toml")


@pytest.mark.parametrize(("model", "name"), [mp for mp in MODEL_PARAMETERS if mp[0] == "kimmel2021"])
def test_every_command_line_parameter_is_refused_with_one_line(model, name, cli):
    bounds = MODELS[model].param_specs[name].bounds
    for value in [v for v in invalid_values(bounds) if v is not None and not isinstance(v, bool)]:
        status, out, err = cli(["patient", "--model", model, "--set", f"{name}={value}"])
        assert status == 2 and not out
        assert f"parameter {name}" in err and len(err.strip().splitlines()) == 1
