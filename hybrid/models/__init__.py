"""The model registry: every built-in model the engine can run, by name.

Adding a model = one module in this package defining ``MODEL`` (a :class:`hybrid.model.ModelSpec` with its
parameters and presets) + one line in ``_MODULES`` below. The CLI, configs, sensitivity analysis and every other
front end resolve names through :func:`hybrid.catalog.get_model`, so the new model is then selectable everywhere.
"""

from __future__ import annotations

from ..model import ModelSpec
from . import (
    antigen_escape,
    cartmath,
    kimmel2021,
    kimmel2021_bfeedback,
    kimmel2021_crs,
    kimmel2021_crs_feedback,
    multiphasic_ck,
)

_MODULES = (kimmel2021, kimmel2021_bfeedback, kimmel2021_crs, kimmel2021_crs_feedback, antigen_escape, cartmath,
            multiphasic_ck)

MODELS: dict[str, ModelSpec] = {m.MODEL.name: m.MODEL for m in _MODULES}
DEFAULT_MODEL = "kimmel2021"

__all__ = ["DEFAULT_MODEL", "MODELS"]
# cytokines.py is a layer, not a model: kimmel2021_crs carries it
