"""The model registry: every model the engine can run, by name.

Adding a model = one module in this package defining ``MODEL`` (a :class:`hybrid.model.ModelSpec` with its
parameters and presets) + one line in ``_MODULES`` below. The CLI, configs, sensitivity analysis and every other
front end read the registry, so the new model is then selectable everywhere by name.
"""

from __future__ import annotations

from ..errors import CartsimError
from ..model import ModelSpec
from . import antigen_escape, cartmath, kimmel2021, kimmel2021_bfeedback, multiphasic_ck

_MODULES = (kimmel2021, kimmel2021_bfeedback, antigen_escape, cartmath, multiphasic_ck)

MODELS: dict[str, ModelSpec] = {m.MODEL.name: m.MODEL for m in _MODULES}
DEFAULT_MODEL = "kimmel2021"


def get_model(model: str | ModelSpec | None = None) -> ModelSpec:
    """A model by name (see :data:`MODELS`; None: :data:`DEFAULT_MODEL`), or the spec itself."""
    if isinstance(model, ModelSpec):
        return model
    if model is None:
        model = DEFAULT_MODEL
    if model not in MODELS:
        raise CartsimError(f"unknown model {model!r}; accepted: {', '.join(MODELS)}")
    return MODELS[model]


__all__ = ["DEFAULT_MODEL", "MODELS", "get_model"]
