"""Models by name: the built-in registry (:mod:`hybrid.models`) and models imported from SBML files.

Every front end and worker resolves a model name with :func:`get_model`. An imported model goes by
``sbml:ABSOLUTE_PATH?tumour=...`` (:func:`sbml_reference`), so the name alone (picklable, printable) brings the
model into any process, which imports the file once. The SBML bridge (:mod:`hybrid.sbml`) is loaded only when
such a name is first met: libsbml is needed only then.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from .errors import CartsimError
from .model import ModelSpec
from .models import DEFAULT_MODEL, MODELS

SBML_PREFIX = "sbml:"
_ROLES = ("tumour", "effector", "lymphocytes")


def sbml_reference(path: str | Path, tumour: str, effector: str | None = None,
                   lymphocytes: str | None = None) -> str:
    """The name an imported SBML model goes by (``sbml:ABSOLUTE_PATH?tumour=...``), resolved by
    :func:`get_model`."""
    roles = {k: v for k, v in zip(_ROLES, (tumour, effector, lymphocytes), strict=True) if v}
    return f"{SBML_PREFIX}{Path(path).resolve()}?{urlencode(roles)}"


@functools.lru_cache(maxsize=32)
def _load_sbml(reference: str) -> ModelSpec:
    from .sbml.reader import load_sbml

    path, _, query = reference[len(SBML_PREFIX):].partition("?")
    roles = dict(parse_qsl(query))
    if "tumour" not in roles:
        raise CartsimError(f"{reference}: an SBML model needs its tumour species (tumour=SPECIES)")
    return load_sbml(path, roles["tumour"], roles.get("effector"), roles.get("lymphocytes"), name=reference)


def get_model(model: str | ModelSpec | None = None) -> ModelSpec:
    """A model by name (see :data:`hybrid.models.MODELS`; None: the default model; ``sbml:...``: an imported
    SBML file, see :func:`sbml_reference`), or the spec itself."""
    if isinstance(model, ModelSpec):
        return model
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, str) and model.startswith(SBML_PREFIX):
        return _load_sbml(model)
    if model not in MODELS:
        raise CartsimError(f"unknown model {model!r}; accepted: {', '.join(MODELS)}")
    return MODELS[model]


__all__ = ["SBML_PREFIX", "get_model", "sbml_reference"]
