"""Parameter table and validation of the ABM."""

import pytest

from abm import PARAMS, SCENARIOS, TumourModel, parameter_table_markdown, parse_value, scenario_params, validate_params
from hybrid.errors import CartsimError, ParameterError


def test_defaults_are_valid_and_documented():
    p = validate_params()
    assert set(p) == set(PARAMS)
    for spec in PARAMS.values():
        assert spec.unit and spec.doc, spec.name
    table = parameter_table_markdown()
    for name in PARAMS:
        assert f"`{name}`" in table


@pytest.mark.parametrize("name,value,fragment", [
    ("kill_prob_max", 1.5, "kill_prob_max"),
    ("kill_prob_max", "high", "kill_prob_max"),
    ("step_hours", 0.0, "> 0"),
    ("moves_per_step", 2.5, "an integer"),
    ("division_limit", True, "division_limit"),
    ("pattern", "striped", "'mixed', 'clustered'"),
    ("route", "oral", "'intravenous', 'intratumoural'"),
    ("width", 5, ">= 10"),
    ("antigen_high", float("nan"), "antigen_high"),
])
def test_invalid_values_name_parameter_and_accepted(name, value, fragment):
    with pytest.raises(ParameterError) as exc:
        validate_params({name: value})
    assert name in str(exc.value) and fragment in str(exc.value)


def test_unknown_name_suggests_close_match():
    with pytest.raises(ParameterError, match="did you mean kill_prob_max"):
        validate_params({"kill_prob": 0.5})


def test_fractions_must_sum_to_one():
    with pytest.raises(ParameterError, match="sum to 1"):
        validate_params({"frac_negative": 0.3})
    assert validate_params({"frac_high": 0.5, "frac_low": 0.2, "frac_negative": 0.3})["frac_low"] == 0.2


def test_cross_checks():
    with pytest.raises(ParameterError, match="negative_below"):
        validate_params({"negative_below": 600.0})
    with pytest.raises(ParameterError, match="recovery_hits"):
        validate_params({"recovery_hits": 20})


def test_parse_value_types():
    assert parse_value("moves_per_step", "4") == 4 and isinstance(parse_value("moves_per_step", "4"), int)
    assert parse_value("kill_prob_max", "0.3") == 0.3
    assert parse_value("pattern", "clustered") == "clustered"
    with pytest.raises(ParameterError, match="must be a number"):
        parse_value("kill_prob_max", "lots")
    with pytest.raises(ParameterError, match="unknown ABM parameter"):
        parse_value("nope", "1")


def test_model_rejects_bad_parameter_and_scenarios_are_valid():
    with pytest.raises(CartsimError, match="tumour_entry_prob"):
        TumourModel(seed=1, width=20, height=20, tumour_entry_prob=-0.1)
    for name in SCENARIOS:
        assert scenario_params(name)["width"] == 200
    with pytest.raises(CartsimError, match="accepted: uniform_high"):
        scenario_params("nonexistent")
