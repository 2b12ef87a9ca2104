"""The model registry: every built-in model the engine can run, by name.

Adding a model = one module in this package defining ``MODEL`` (a :class:`hybrid.model.ModelSpec` with its
parameters and presets) + its name in ``_NAMES`` below (the module is named as the model). The CLI, configs,
sensitivity analysis and every other front end resolve names through :func:`hybrid.catalog.get_model`, so the
new model is then selectable everywhere. A model's module, and its compiled rates, load on first look-up: a
command that runs one model does not load the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from ..model import ModelSpec

_NAMES = ("kimmel2021", "kimmel2021_bfeedback", "kimmel2021_crs", "kimmel2021_crs_feedback", "antigen_escape",
          "cartmath", "multiphasic_ck")
# cytokines.py is a layer, not a model: kimmel2021_crs carries it


class _Registry(Mapping[str, ModelSpec]):
    """Model name -> :class:`ModelSpec`, importing ``hybrid.models.<name>`` on first look-up."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names
        self._loaded: dict[str, ModelSpec] = {}

    def __getitem__(self, name: str) -> ModelSpec:
        spec = self._loaded.get(name)
        if spec is None:
            if name not in self._names:
                raise KeyError(name)
            spec = import_module(f"{__name__}.{name}").MODEL
            if spec.name != name:
                raise RuntimeError(f"hybrid.models.{name} defines the model {spec.name!r}: module and model "
                                   "names must agree")
            self._loaded[name] = spec
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<model registry: {', '.join(self._names)}>"


MODELS: Mapping[str, ModelSpec] = _Registry(_NAMES)
DEFAULT_MODEL = "kimmel2021"

__all__ = ["DEFAULT_MODEL", "MODELS"]
