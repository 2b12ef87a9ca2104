"""Reaction-model descriptions the hybrid engine runs on.

A model is data plus one jitted function: its species, its reactions (a stoichiometry matrix and a
``rates(t, x, p, out)`` function compiled with :data:`hybrid.integrator.RATES_SIG`, giving each reaction's
propensity in events/day), which species may go stochastic, and the roles the outcome logic needs (tumour,
effector, and which species lymphodepletion resets). Reactions that only ever move deterministic species may
have signed "propensities" (net fluxes such as Gompertz growth); reactions that touch a species that may go
stochastic must have non-negative propensities.

A model also declares its parameters (:class:`hybrid.params.ParamSpec`: unit, default with its source, accepted
values) and named presets; the kernels take the parameter vector in declaration order.

The tumour may be one species or several (clones); its size is their sum. When the tumour species form a
linear branching process (every tumour reaction has one parent cell, its per-cell rate does not depend on the
tumour, and the tumour does not act on the other species), P(cure) is exact: Kendall's formula for one species,
the backward equations of the multi-type process for several (``linear_tumour`` true, ``tumour_parents`` naming
each tumour reaction's parent species); otherwise only the Monte Carlo holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .errors import CartsimError, ParameterError
from .paramspec import ParamSpec


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
    tumour: str | tuple[str, ...]
    """The tumour species (several: clones, whose sum is the tumour size)."""
    effector: str
    lymphocytes: str | None
    """The species that lymphodepletion resets to its initial value (None: the model has none)."""
    initial: tuple[str, ...]
    """Parameter that holds each species' initial value, in species order; with ``initial_state``, the
    parameters that function reads."""
    presets: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Named parameter sets, each given as its differences from the defaults; the first is the default."""
    linear_tumour: bool = False
    tumour_parents: Mapping[str, str] = field(default_factory=dict)
    """With ``linear_tumour``: the parent species of each tumour reaction (its offspring are the parent
    plus the reaction's change)."""
    initial_state: Callable[[np.ndarray], np.ndarray] | None = None
    """Initial state (n, n_species) from the parameter matrix (n, n_params), when it is not simply the
    ``initial`` columns (a tumour split into clones by a fraction)."""
    breakpoints: tuple[str, ...] = ()
    """Parameters holding days at which the rates jump (a phase switch): the integrators stop there exactly, as
    at a dose, instead of creeping up to the jump with ever smaller steps."""
    tumour_labels: Mapping[str, str] = field(default_factory=dict)
    """Name of each tumour species in outputs (``relapse_type``); default: the species name."""
    readouts: Mapping[str, str] = field(default_factory=dict)
    """Readouts beyond the engine's own (name -> meaning with unit) that a layer of the model adds."""
    layer_of: str | None = None
    """The model this one carries a layer on: its species, reactions and parameters come first, in the same
    order, and the layer acts on none of them, so the parent's exact oracle and mean field of those species are
    this model's (the oracle is solved on the parent, without the layer's species)."""
    rate_laws: tuple[str, ...] = ()
    """Each reaction's propensity as SBML Level 3 infix text (``ln`` is the natural log), for SBML export; the
    export test simulates it with libroadrunner against ``rates``. With ``breakpoints``, ``after_NAME`` is 0
    before the day held by parameter NAME and 1 from it (exported as an SBML event, which ODE solvers stop at;
    a piecewise in time they would step across)."""
    initial_laws: Mapping[str, str] = field(default_factory=dict)
    """With ``initial_state``: each species' initial amount as SBML infix text of the parameters."""
    doc: str = ""
    sources: tuple[str, ...] = ()
    """The papers the model comes from."""

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
        for role in (*self.tumour_species, self.effector, *([self.lymphocytes] if self.lymphocytes else []),
                     *self.stochastic):
            if role not in self.species:
                raise CartsimError(f"model {self.name}: {role!r} is not a species ({', '.join(self.species)})")
        if any(p not in self.param_names for p in self.breakpoints):
            raise CartsimError(f"model {self.name}: breakpoints must name parameters")
        if any(p not in self.param_names for p in self.initial) or (
                self.initial_state is None and len(self.initial) != len(self.species)):
            raise CartsimError(f"model {self.name}: 'initial' must name one parameter per species")
        for sp in self.tumour_species:
            if sp not in self.stochastic:
                raise CartsimError(f"model {self.name}: the tumour {sp!r} must be allowed to go stochastic")
        elig = self.eligible
        for j, rname in enumerate(self.reactions):
            touched = S[j] != 0
            if touched[elig].any() and touched[~elig].any():
                raise CartsimError(f"model {self.name}: reaction {rname!r} moves both a species that may go "
                                   "stochastic and one that may not; split it into two reactions")
        if self.linear_tumour:
            _ = self.offspring  # builds the branching table, which checks tumour_parents

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
    def tumour_species(self) -> tuple[str, ...]:
        return (self.tumour,) if isinstance(self.tumour, str) else tuple(self.tumour)

    @property
    def tumour_mask(self) -> np.ndarray:
        return np.array([s in self.tumour_species for s in self.species], dtype=np.bool_)

    def tumour_label(self, species: str) -> str:
        return self.tumour_labels.get(species, species)

    @cached_property
    def offspring(self) -> np.ndarray:
        """Branching table of a linear tumour: one row per tumour reaction, (reaction index, parent's tumour
        type, offspring count of each tumour type...), tumour types in ``tumour_species`` order."""
        types = self.tumour_species
        cols = [self.index(sp) for sp in types]
        rows = []
        for j, rname in enumerate(self.reactions):
            change = self.stoichiometry[j, cols]
            if not change.any():
                continue
            parent = self.tumour_parents.get(rname)
            if parent not in types:
                raise CartsimError(f"model {self.name}: tumour reaction {rname!r} needs its parent species in "
                                   f"tumour_parents (one of {', '.join(types)})")
            k = types.index(parent)
            off = change.copy()
            off[k] += 1.0
            if (off < 0).any():
                raise CartsimError(f"model {self.name}: reaction {rname!r} removes a cell other than its parent "
                                   f"{parent!r}; it is not a branching process")
            rows.append([j, k, *off])
        return np.array(rows, dtype=np.float64).reshape(-1, 2 + len(types))

    @property
    def kendall_reactions(self) -> tuple[int, int] | None:
        """(birth, death) reaction indices when the tumour is one linear birth–death species (Kendall's
        formula applies), else None."""
        if not self.linear_tumour or len(self.tumour_species) != 1 or self.offspring.shape[0] != 2:
            return None
        by_offspring = {int(row[2]): int(row[0]) for row in self.offspring}
        if set(by_offspring) != {0, 2}:
            return None
        return by_offspring[2], by_offspring[0]

    @property
    def exact_oracle(self) -> str:
        """Which exact P(cure) the model has: Kendall's formula, the multi-type backward equations, or none."""
        if not self.linear_tumour:
            return "none (Monte Carlo only)"
        if self.kendall_reactions is not None:
            return "Kendall's formula (one linear birth-death tumour species)"
        return f"backward equations of a {len(self.tumour_species)}-type linear branching process"

    def describe(self) -> str:
        """A plain-text sheet: what the model is, its species and roles, reactions, parameters with units,
        defaults and sources, presets and exact oracle."""
        lines = [f"{self.name}: {self.doc}", ""]
        lines += [f"source: {src}" for src in self.sources]
        roles = {self.effector: "effector", self.lymphocytes: "lymphocytes reset by lymphodepletion"}
        lines += ["", "species (cells):"]
        for sp, init in zip(self.species, self.initial if self.initial_state is None else [""] * len(self.species),
                            strict=True):
            role = "tumour" if sp in self.tumour_species else roles.get(sp, "")
            tags = [t for t in (role, "stochastic below the threshold" if sp in self.stochastic else "",
                                f"initial value {init}" if init else "") if t]
            lines.append(f"  {sp:<10} {'; '.join(tags)}")
        if self.initial_state is not None:
            lines.append(f"  initial state from {', '.join(self.initial)} ({self.initial_state.__doc__ or ''})")
        lines += ["", "reactions (change when fired once; propensity in events/day):"]
        for j, rname in enumerate(self.reactions):
            change = ", ".join(f"{sp} {int(v):+d}" if float(v).is_integer() else f"{sp} {v:+g}"
                               for sp, v in zip(self.species, self.stoichiometry[j], strict=True) if v != 0)
            parent = self.tumour_parents.get(rname)
            lines.append(f"  {rname:<14} {change}" + (f"  (per {parent} cell)" if parent else ""))
        lines += ["", "parameters:"]
        for ps in self.params:
            lines.append(f"  {ps.name:<14} {ps.default:<11.6g} {ps.unit:<10} {ps.doc}")
            lines.append(f"  {'':<14} source: {ps.source}; accepted: {ps.bounds.describe()}")
            if ps.plausible is not None:
                lines.append(f"  {'':<14} plausible in patients: {ps.plausible[0]:g}-{ps.plausible[1]:g} "
                             f"({ps.plausible_source})")
        if self.readouts:
            lines += ["", "readouts per patient (besides outcome, nadir and CAR T exposure):"]
            lines += [f"  {name:<18} {meaning}" for name, meaning in self.readouts.items()]
        lines += ["", f"presets: {', '.join(self.presets) or '(none)'}", f"exact P(cure): {self.exact_oracle}"]
        return "\n".join(lines)

    def initial_values(self, P: np.ndarray) -> np.ndarray:
        """Initial state of each row of the parameter matrix P (cells)."""
        if self.initial_state is not None:
            return np.ascontiguousarray(self.initial_state(P), dtype=np.float64)
        return np.ascontiguousarray(P[:, self.initial_columns])

    @property
    def eligible(self) -> np.ndarray:
        return np.array([s in self.stochastic for s in self.species], dtype=np.bool_)

    def index(self, species: str) -> int:
        return self.species.index(species)

    def start_of(self, species: str | None) -> str | None:
        """The parameter that holds ``species``' value at infusion (``initial`` in species order), or None."""
        if species is None:
            return None
        name = self.initial[self.index(species)] if self.index(species) < len(self.initial) else None
        return name if name in self.param_specs else None

    @property
    def tumour_start(self) -> str | None:
        """The parameter that holds the tumour's size at infusion (its first clone's, for models that split a
        total by a fraction, such as antigen_escape's B0)."""
        return self.start_of(self.tumour_species[0])

    @property
    def shared_tumour_start(self) -> int | None:
        """The column of the tumour's start in the parameter vector when patients that differ only there can
        share one oracle solve (P(cure) = q^B0 with q that of one cell), else None. Read from the model's
        description: Kendall's formula applies, the start is only the tumour's initial value (no rate law, phase
        switch or other species' start names it)."""
        b0 = self.tumour_start
        if self.kendall_reactions is None or b0 is None or self.initial_state is not None or not self.rate_laws:
            return None
        if b0 in self.breakpoints or self.initial.count(b0) != 1:
            return None
        if any(re.search(rf"\b{re.escape(b0)}\b", law) for law in self.rate_laws):
            return None
        return self.param_names.index(b0)

    def reaction_index(self, reaction: str) -> int:
        return self.reactions.index(reaction)

    @property
    def initial_columns(self) -> list[int]:
        """Column of each species' initial value in the parameter vector, in species order."""
        return [self.param_names.index(n) for n in self.initial]
