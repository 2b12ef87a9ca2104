"""Reaction-model descriptions the hybrid engine runs on.

A model is data plus one jitted function: its species, its reactions (a stoichiometry matrix and a
``rates(t, x, p, out)`` function compiled with :data:`hybrid.integrator.RATES_SIG`, giving each reaction's
propensity in events/day), which species may go stochastic, and the roles the outcome logic needs (tumour,
effector, and which species lymphodepletion resets). Reactions that only ever move deterministic species may
have signed "propensities" (net fluxes such as Gompertz growth); reactions that touch a species that may go
stochastic must have non-negative propensities.

A model also declares its parameters (:class:`hybrid.params.ParamSpec`: unit, default with its source, accepted
values) and named presets; the kernels take the parameter vector in declaration order.

When the tumour is a linear birth–death process whose rates do not depend on the tumour, and the tumour does
not act on the other species, Kendall's formula gives P(cure) exactly (``tumour_birth``/``tumour_death`` set
and ``linear_tumour`` true); otherwise only the Monte Carlo holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .errors import CartsimError, ParameterError
from .params import ParamSpec


@dataclass(frozen=True)
class ModelSpec:
    """A reaction model for the hybrid engine. Units: cells and days."""

    name: str
    species: tuple[str, ...]
    reactions: tuple[str, ...]
    stoichiometry: np.ndarray
    """(n_reactions, n_species) float array: the change of each species when a reaction fires once."""
    rates: object
    """Jitted ``rates(t, x, p, out)``; ``p`` is the parameter vector in ``param_names`` order."""
    params: tuple[ParamSpec, ...]
    """The parameters, in the order of the vector the kernels take."""
    stochastic: tuple[str, ...]
    """Species that go stochastic below the threshold."""
    tumour: str
    effector: str
    lymphocytes: str
    """The species that lymphodepletion resets to its initial value."""
    initial: tuple[str, ...]
    """Parameter that holds each species' initial value, in species order."""
    presets: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Named parameter sets, each given as its differences from the defaults; the first is the default."""
    linear_tumour: bool = False
    tumour_birth: str | None = None
    tumour_death: str | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise CartsimError(f"model {self.name}: parameter names repeat")
        for preset, values in self.presets.items():
            for k, v in values.items():
                if k not in names:
                    raise CartsimError(f"model {self.name}: preset {preset!r} sets unknown parameter {k!r}")
                self.param_specs[k].check(v)
        S = np.ascontiguousarray(self.stoichiometry, dtype=np.float64)
        object.__setattr__(self, "stoichiometry", S)
        if S.shape != (len(self.reactions), len(self.species)):
            raise CartsimError(f"model {self.name}: stoichiometry shape {S.shape} does not match "
                               f"{len(self.reactions)} reactions x {len(self.species)} species")
        for role in (self.tumour, self.effector, self.lymphocytes, *self.stochastic):
            if role not in self.species:
                raise CartsimError(f"model {self.name}: {role!r} is not a species ({', '.join(self.species)})")
        if len(self.initial) != len(self.species) or any(p not in self.param_names for p in self.initial):
            raise CartsimError(f"model {self.name}: 'initial' must name one parameter per species")
        if self.tumour not in self.stochastic:
            raise CartsimError(f"model {self.name}: the tumour {self.tumour!r} must be allowed to go stochastic")
        elig = self.eligible
        for j, rname in enumerate(self.reactions):
            touched = S[j] != 0
            if touched[elig].any() and touched[~elig].any():
                raise CartsimError(f"model {self.name}: reaction {rname!r} moves both a species that may go "
                                   "stochastic and one that may not; split it into two reactions")
        if self.linear_tumour:
            for r in (self.tumour_birth, self.tumour_death):
                if r not in self.reactions:
                    raise CartsimError(f"model {self.name}: linear_tumour needs tumour_birth and tumour_death "
                                       f"reactions, got {r!r}")

    @cached_property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @cached_property
    def param_specs(self) -> dict[str, ParamSpec]:
        return {p.name: p for p in self.params}

    @property
    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def preset(self, name: str | None = None) -> dict[str, float]:
        """Every parameter's value in preset ``name`` (default: the first preset, else the defaults)."""
        if name is None:
            name = next(iter(self.presets), None)
            if name is None:
                return self.defaults
        if name not in self.presets:
            raise ParameterError(f"unknown preset {name!r} of model {self.name}; accepted: "
                                 f"{', '.join(self.presets) or '(none)'}")
        return {**self.defaults, **self.presets[name]}

    @property
    def eligible(self) -> np.ndarray:
        return np.array([s in self.stochastic for s in self.species], dtype=np.bool_)

    def index(self, species: str) -> int:
        return self.species.index(species)

    def reaction_index(self, reaction: str) -> int:
        return self.reactions.index(reaction)

    @property
    def initial_columns(self) -> list[int]:
        """Column of each species' initial value in the parameter vector, in species order."""
        return [self.param_names.index(n) for n in self.initial]
