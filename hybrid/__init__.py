"""cartsim.hybrid: the Kimmel et al. (2021) CAR T model on a hybrid ODE–SSA engine, with Kendall's exact
cure probability. Cells and days throughout; see :mod:`hybrid.units` for blood counts and tumour volumes."""

from pathlib import Path

from . import jitcache

jitcache.refresh(Path(__file__).parent)

from .errors import CartsimError, ParameterError  # noqa: E402
from .model import ModelSpec  # noqa: E402
from .options import METHODS, Dose, SimOptions  # noqa: E402
from .params import PARAM_NAMES, PARAM_SPECS, PRESETS, Parameters  # noqa: E402
from .simulate import (  # noqa: E402
    MODELS,
    RESULT_COLUMNS,
    PatientResult,
    cure_probability_exact,
    get_model,
    simulate_batch,
    simulate_patient,
    solve_trajectory,
)

__all__ = [
    "METHODS",
    "MODELS",
    "PARAM_NAMES",
    "PARAM_SPECS",
    "PRESETS",
    "RESULT_COLUMNS",
    "CartsimError",
    "Dose",
    "ModelSpec",
    "ParameterError",
    "Parameters",
    "PatientResult",
    "SimOptions",
    "cure_probability_exact",
    "get_model",
    "simulate_batch",
    "simulate_patient",
    "solve_trajectory",
]
