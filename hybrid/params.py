"""A validated parameter set of one patient for one model (:class:`Parameters`).

Immutable and validated on construction against each :class:`hybrid.paramspec.ParamSpec`, so a bad value fails
before any simulation starts, with an error naming it. Cells and days (rates per day).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .catalog import get_model as _spec
from .errors import ParameterError
from .model import ModelSpec


class Parameters(Mapping[str, float]):
    """A validated parameter set of one patient for one model, in the model's parameter order.

    Read values as attributes (``p.K_C``) or items (``p["K_C"]``). Cells and days throughout."""

    __slots__ = ("_values", "model")

    def __init__(self, model: ModelSpec | str | None = None, /, **values: Any):
        spec = _spec(model)
        unknown = [k for k in values if k not in spec.param_specs]
        if unknown:
            raise ParameterError(f"unknown parameter {unknown[0]!r} of model {spec.name}; accepted: "
                                 f"{', '.join(spec.param_names)}")
        missing = [k for k in spec.param_names if k not in values]
        if missing:
            raise ParameterError(f"missing parameter(s) of model {spec.name}: {', '.join(missing)}")
        object.__setattr__(self, "model", spec)
        object.__setattr__(self, "_values", {k: spec.param_specs[k].check(values[k]) for k in spec.param_names})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Parameters are immutable; use replace()")

    def __getattr__(self, name: str) -> float:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"model {self.model.name} has no parameter {name!r}") from None

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Parameters) and other.model.name == self.model.name and \
            other._values == self._values

    def __hash__(self) -> int:
        return hash((self.model.name, tuple(self._values.values())))

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:g}" for k, v in self._values.items())
        return f"Parameters({self.model.name!r}, {vals})"

    def __reduce__(self):
        return (_rebuild, (self.model.name, self._values))

    @classmethod
    def from_preset(cls, preset: str | None = None, model: ModelSpec | str | None = None,
                    **overrides: Any) -> Parameters:
        """The model's preset (default: its first) with ``overrides`` applied, each validated."""
        spec = _spec(model)
        return cls(spec, **{**spec.preset(preset), **overrides})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], model: ModelSpec | str | None = None) -> Parameters:
        """Build from a mapping that names every parameter of the model; unknown or missing names are errors."""
        return cls(model, **values)

    @classmethod
    def from_values(cls, values: Sequence[float], model: ModelSpec | str | None = None) -> Parameters:
        """Build from values in the model's parameter order (a row of a cohort table)."""
        spec = _spec(model)
        if len(values) != len(spec.param_names):
            raise ParameterError(f"model {spec.name} has {len(spec.param_names)} parameters, got {len(values)}")
        return cls(spec, **dict(zip(spec.param_names, values, strict=True)))

    def replace(self, **overrides: Any) -> Parameters:
        """A copy with ``overrides`` applied (each validated)."""
        return Parameters(self.model, **{**self._values, **overrides})

    def as_dict(self) -> dict[str, float]:
        return dict(self._values)

    def as_array(self) -> np.ndarray:
        """Values in the model's parameter order, as the jitted kernels take them."""
        return np.fromiter(self._values.values(), dtype=np.float64, count=len(self._values))


def _rebuild(model: str, values: dict[str, float]) -> Parameters:
    return Parameters(model, **values)


def parameter_matrix(spec: ModelSpec, columns: Mapping[str, Any], n: int) -> np.ndarray:
    """(n, n_params) validated parameter matrix of model ``spec`` from per-parameter columns; a missing or
    unknown name is an error."""
    unknown = [k for k in columns if k not in spec.param_specs]
    if unknown:
        raise ParameterError(f"unknown parameter {unknown[0]!r} of model {spec.name}; accepted: "
                             f"{', '.join(spec.param_names)}")
    out = np.empty((n, len(spec.param_names)))
    for j, name in enumerate(spec.param_names):
        if name not in columns:
            raise ParameterError(f"missing parameter {name} of model {spec.name}")
        out[:, j] = spec.param_specs[name].check_array(columns[name])
    return out
