"""Spatial agent-based model of a solid tumour under CAR T-cell attack (Mesa 3 + Numba lattice kernels).

>>> from abm import TumourModel, scenario_params
>>> model = TumourModel(seed=1, **scenario_params("mixed_negative", {"width": 60, "height": 60})).run(720)
>>> model.summary()["eliminated"]
False
"""

from pathlib import Path

from hybrid import jitcache

jitcache.refresh(Path(__file__).parent)

from .model import REPORTERS, TumourModel, Vessel  # noqa: E402
from .params import (  # noqa: E402
    PARAMS,
    Param,
    default_steps,
    defaults,
    parameter_table_markdown,
    parse_value,
    validate_params,
)
from .reference import ReferenceTumourModel  # noqa: E402
from .scenarios import SCENARIOS, scenario_params  # noqa: E402

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
