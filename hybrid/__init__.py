"""cartsim.hybrid: reaction models of CAR T therapy (registry in :mod:`hybrid.models`; the Kimmel et al. 2021
model by default) on a hybrid ODE–SSA engine, with Kendall's exact cure probability. Cells and days
throughout; see :mod:`hybrid.units` for blood counts and tumour volumes."""

from pathlib import Path

from . import jitcache

if jitcache.refresh(Path(__file__).parent):
    import sys

    print("cartsim: compiling the simulation kernels (first use after an install or an update, about half a "
          "minute; cached afterwards)", file=sys.stderr, flush=True)

from .catalog import get_model  # noqa: E402
from .errors import CartsimError, ParameterError  # noqa: E402
from .model import ModelSpec  # noqa: E402
from .models import DEFAULT_MODEL, MODELS  # noqa: E402
from .options import METHODS, Dose, SimOptions  # noqa: E402
from .params import Parameters  # noqa: E402
from .paramspec import ParamSpec  # noqa: E402

_SIMULATE = ("RESULT_COLUMNS", "PatientResult", "SpawnedSeeds", "cure_probability_exact",
             "cytokine_first_burden_reaching", "cytokine_readouts_over_burdens", "effector_per_ul",
             "layer_course", "mean_field", "progression_free_exact", "simulate_batch", "simulate_patient",
             "solve_trajectory", "tumour_below_exact")


def __getattr__(name: str):
    """The simulation entry points load the engine's compiled kernels on first use, not on ``import hybrid``:
    a process that only reads models and parameters (a command line parsing its options, a parent waiting on
    its workers) stays small."""
    if name in _SIMULATE:
        from . import simulate

        return getattr(simulate, name)
    raise AttributeError(f"module 'hybrid' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL",
    "METHODS",
    "MODELS",
    "RESULT_COLUMNS",
    "CartsimError",
    "Dose",
    "ModelSpec",
    "ParamSpec",
    "ParameterError",
    "Parameters",
    "PatientResult",
    "SimOptions",
    "SpawnedSeeds",
    "cure_probability_exact",
    "cytokine_first_burden_reaching",
    "cytokine_readouts_over_burdens",
    "effector_per_ul",
    "layer_course",
    "mean_field",
    "progression_free_exact",
    "get_model",
    "simulate_batch",
    "simulate_patient",
    "solve_trajectory",
    "tumour_below_exact",
]
