"""Spatial agent-based model of a solid tumour under CAR T-cell attack (Mesa 3 + Numba lattice kernels).

>>> from abm import TumourModel, scenario_params
>>> model = TumourModel(seed=1, **scenario_params("mixed_negative", {"width": 60, "height": 60})).run(720)
>>> model.summary()["eliminated"]
False
"""

from pathlib import Path

from hybrid import jitcache

jitcache.refresh(Path(__file__).parent)

from .params import (  # noqa: E402
    PARAMS,
    Param,
    default_steps,
    defaults,
    parameter_table_markdown,
    parse_value,
    validate_params,
)
from .scenarios import SCENARIOS, scenario_params  # noqa: E402

_MESA = {"REPORTERS": "model", "TumourModel": "model", "Vessel": "model", "ReferenceTumourModel": "reference"}


def __getattr__(name: str):
    """The models load Mesa on first use, not on ``import abm``: a command line reading the spatial parameters
    (``cartsim --help``, ``cartsim cure``) does not pay Mesa's start-up (about 0.3 s)."""
    if name in _MESA:
        from importlib import import_module

        return getattr(import_module(f".{_MESA[name]}", __name__), name)
    raise AttributeError(f"module 'abm' has no attribute {name!r}")


__all__ = [
    "PARAMS",
    "REPORTERS",
    "SCENARIOS",
    "Param",
    "ReferenceTumourModel",
    "TumourModel",
    "Vessel",
    "default_steps",
    "defaults",
    "parameter_table_markdown",
    "parse_value",
    "scenario_params",
    "validate_params",
]
