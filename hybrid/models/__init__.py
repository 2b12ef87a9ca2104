"""The model registry: every model the engine can run, by name.

Adding a model = one module in this package defining ``MODEL`` (a :class:`hybrid.model.ModelSpec` with its
parameters and presets) + one line in ``_MODULES`` below. The CLI, configs, sensitivity analysis and every other
front end read the registry, so the new model is then selectable everywhere by name.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from ..errors import CartsimError
from ..model import ModelSpec
from . import antigen_escape, cartmath, kimmel2021, kimmel2021_bfeedback, multiphasic_ck

_MODULES = (kimmel2021, kimmel2021_bfeedback, antigen_escape, cartmath, multiphasic_ck)

MODELS: dict[str, ModelSpec] = {m.MODEL.name: m.MODEL for m in _MODULES}
DEFAULT_MODEL = "kimmel2021"


SBML_PREFIX = "sbml:"
_ROLES = ("tumour", "effector", "lymphocytes")


def sbml_reference(path: str | Path, tumour: str, effector: str | None = None,
                   lymphocytes: str | None = None) -> str:
    """The name an imported SBML model goes by (``sbml:ABSOLUTE_PATH?tumour=...``): every front end and
    worker resolves it with :func:`get_model`, which imports the file once per process."""
    roles = {k: v for k, v in zip(_ROLES, (tumour, effector, lymphocytes), strict=True) if v}
    return f"{SBML_PREFIX}{Path(path).resolve()}?{urlencode(roles)}"


@functools.lru_cache(maxsize=32)
def _load_sbml(reference: str) -> ModelSpec:
    from ..sbml import load_sbml  # libsbml is only needed when a model comes from a file

    path, _, query = reference[len(SBML_PREFIX):].partition("?")
    roles = dict(parse_qsl(query))
    if "tumour" not in roles:
        raise CartsimError(f"{reference}: an SBML model needs its tumour species (tumour=SPECIES)")
    return load_sbml(path, roles["tumour"], roles.get("effector"), roles.get("lymphocytes"), name=reference)


def get_model(model: str | ModelSpec | None = None) -> ModelSpec:
    """A model by name (see :data:`MODELS`; None: :data:`DEFAULT_MODEL`; ``sbml:...``: an imported SBML
    file, see :func:`sbml_reference`), or the spec itself."""
    if isinstance(model, ModelSpec):
        return model
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, str) and model.startswith(SBML_PREFIX):
        return _load_sbml(model)
    if model not in MODELS:
        raise CartsimError(f"unknown model {model!r}; accepted: {', '.join(MODELS)}")
    return MODELS[model]


__all__ = ["DEFAULT_MODEL", "MODELS", "SBML_PREFIX", "get_model", "sbml_reference"]
