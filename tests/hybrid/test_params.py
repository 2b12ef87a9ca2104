"""Parameters, presets, options and unit conversions: validation names the culprit."""

import math

import numpy as np
import pandas as pd
import pytest

from hybrid import MODELS, CartsimError, Dose, ParameterError, Parameters, SimOptions, simulate_batch
from hybrid.units import blood_to_cells, cells_to_blood, cells_to_volume, volume_to_cells


def test_each_preset_is_the_declared_defaults_with_its_own_changes():
    """A preset states only what it changes; everything else is the ParamSpec default (whose value is checked
    against the paper where the paper gives it: tests/hybrid/test_paper_facts.py)."""
    for spec in MODELS.values():
        defaults = {p.name: p.default for p in spec.params}
        for name, changes in spec.presets.items():
            assert Parameters.from_preset(name, spec).as_dict() == {**defaults, **changes}


@pytest.mark.parametrize(
    ("overrides", "culprit"),
    [({"K_Q": 1.0}, "K_Q"), ({"r_B": -0.1}, "r_B"), ({"K_C": 0.0}, "K_C"), ({"gamma_B": math.nan}, "gamma_B"),
     ({"B0": "big"}, "B0"), ({"N0": math.inf}, "N0")],
)
def test_invalid_parameters_name_the_culprit(overrides, culprit):
    with pytest.raises(ParameterError, match=culprit):
        Parameters.from_preset("kimmel2021", **overrides)


def test_zero_is_allowed_where_the_model_allows_it():
    p = Parameters.from_preset("kimmel2021", d_B=0.0, C0=0.0, rho_C=0.0)
    assert p.C0 == 0.0


def test_unknown_preset_lists_the_accepted_ones():
    with pytest.raises(ParameterError, match="kimmel2021"):
        Parameters.from_preset("kimmel2020")


def test_batch_validation_names_the_parameter_and_row():
    p = Parameters.from_preset("kimmel2021")
    df = pd.DataFrame([p.as_dict()] * 3)
    df.loc[2, "k_B"] = -1.0
    with pytest.raises(ParameterError, match="k_B"):
        simulate_batch(df, [0, 1, 2])
    with pytest.raises(CartsimError, match="seeds"):
        simulate_batch(df.iloc[:2], [0])


@pytest.mark.parametrize(
    ("kwargs", "culprit"),
    [({"threshold": 0.5}, "threshold"), ({"method": "exact"}, "method"), ({"t_end": -1.0}, "t_end"),
     ({"hysteresis": 1.0}, "hysteresis"), ({"record_dt": 0.0}, "record_dt")],
)
def test_invalid_options_name_the_culprit(kwargs, culprit):
    with pytest.raises(CartsimError, match=culprit):
        SimOptions(**kwargs)
    with pytest.raises(CartsimError, match="day"):
        Dose(day=-3.0)


def test_unit_conversions_round_trip():
    assert blood_to_cells(500.0) == 2.5e11  # K_N = 500 cells/µL
    assert cells_to_blood(2.5e11) == 500.0
    assert volume_to_cells(94.86) == pytest.approx(9.486e10)
    np.testing.assert_allclose(cells_to_volume(volume_to_cells(np.array([1.0, 2.5]))), [1.0, 2.5])


def test_parameter_vector_follows_param_names():
    p = Parameters.from_preset("kimmel2021")
    assert p.as_array().tolist() == [getattr(p, n) for n in MODELS["kimmel2021"].param_names]
