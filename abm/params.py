"""Parameter table of the spatial model: name, unit, default, accepted values, meaning.

One lattice site holds at most one tumour cell and at most one CAR T cell (a CAR T cell may sit on a tumour cell's
site: it has crawled into the tumour). Time advances in fixed steps of ``step_hours``.
Reference rules (CARCADE, Prybutok et al. 2022): exhaustion after more than 10 antigen hits, one hit recovered per
day, division limit 10, 50 000 CARs per T cell against 1 000 antigens per high tumour cell.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hybrid.constraints import Boolean, Constraint, Interval, one_of
from hybrid.errors import ParameterError

__all__ = [
    "PARAMS",
    "Param",
    "DEFAULT_DAYS",
    "CARS_REFERENCE",
    "default_steps",
    "defaults",
    "parse_value",
    "validate_params",
    "parameter_table_markdown",
]

#: CARs per T cell at which ``antigen_half_max`` is quoted (CARCADE's reference density).
CARS_REFERENCE = 50_000.0
#: Simulated time the command line runs by default (days): long enough for infused cells to die out or clear.
DEFAULT_DAYS = 30.0


@dataclass(frozen=True)
class Param:
    """One named parameter. ``kind`` is float, int, choice or bool; bounds are inclusive unless ``lo_open``."""

    name: str
    kind: str
    default: Any
    unit: str
    doc: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] = ()

    @property
    def constraint(self) -> Constraint:
        """The accepted values, in the project's one constraint layer."""
        if self.kind == "choice":
            return one_of(self.choices)
        if self.kind == "bool":
            return Boolean()
        return Interval(lo=self.lo, hi=self.hi, lo_open=self.lo_open, integer=self.kind == "int")

    def accepted(self) -> str:
        """Human-readable description of the accepted values."""
        return self.constraint.describe()

    def check(self, value: Any, text: bool = False) -> Any:
        """``value`` converted to the parameter's type if accepted, else ParameterError naming the parameter."""
        v = self.constraint.check(f"ABM parameter {self.name!r}", value, self.unit, ParameterError, text=text)
        return float(v) if self.kind == "float" else v


def _p(name, kind, default, unit, doc, lo=None, hi=None, lo_open=False, choices=()) -> Param:
    return Param(name, kind, default, unit, doc, lo, hi, lo_open, tuple(choices))


_TABLE: list[Param] = [
    # Geometry and time
    _p("width", "int", 200, "sites", "grid width", 10, 4000),
    _p("height", "int", 200, "sites", "grid height", 10, 4000),
    _p("site_um", "float", 15.0, "µm per site", "lattice spacing (about one cell diameter)", 0.0, 1000, True),
    _p("step_hours", "float", 1.0, "hours per step", "time step", 0.0, 24.0, True),
    # Tumour: geometry and antigen
    _p("tumour_radius_frac", "float", 0.4, "fraction of min(width, height)",
       "radius of the initial tumour disc centred on the grid", 0.01, 0.5),
    _p("frac_high", "float", 1.0, "fraction", "initial fraction of antigen-high tumour cells", 0.0, 1.0),
    _p("frac_low", "float", 0.0, "fraction", "initial fraction of antigen-low tumour cells", 0.0, 1.0),
    _p("frac_negative", "float", 0.0, "fraction", "initial fraction of antigen-negative tumour cells", 0.0, 1.0),
    _p("pattern", "choice", "mixed", "-", "initial spatial pattern of antigen classes",
       choices=("mixed", "clustered")),
    _p("patch_size_sites", "float", 10.0, "sites",
       "typical patch diameter of the clustered pattern (smoothing length of the class field)", 1.0, 1000),
    _p("antigen_mode", "choice", "classes", "-",
       "classes: one antigen level per class; continuous: lognormal spread around the class level",
       choices=("classes", "continuous")),
    _p("antigen_high", "float", 1000.0, "antigens per cell", "antigen level of high cells (CARCADE)", 0.0, 1e7,
       True),
    _p("antigen_low", "float", 100.0, "antigens per cell", "antigen level of low cells", 0.0, 1e7),
    _p("antigen_cv", "float", 0.3, "-", "coefficient of variation of antigen per cell (continuous mode)", 0.0, 5.0),
    _p("negative_below", "float", 10.0, "antigens per cell", "cells below this level count as antigen-negative",
       0.0, 1e7, True),
    _p("high_at_least", "float", 500.0, "antigens per cell", "cells at or above this level count as antigen-high",
       0.0, 1e7, True),
    _p("tumour_doubling_hours", "float", 48.0, "hours",
       "doubling time of a tumour cell with a free neighbouring site", 0.0, 1e5, True),
    _p("antigen_loss_prob", "float", 0.0, "probability per division",
       "permanent antigen loss: a daughter becomes antigen-negative for good", 0.0, 1.0),
    _p("transient_loss_per_day", "float", 0.0, "per cell per day",
       "rate at which a tumour cell stops expressing antigen for a while", 0.0, 24.0),
    _p("transient_loss_hours", "float", 72.0, "hours", "duration of a transient antigen loss", 0.0, 1e5),
    _p("vessel_density", "float", 0.01, "vessel sites per site",
       "fraction of sites that are blood vessels (tumour cells cannot occupy them)", 0.0, 0.2),
    # CAR T: dose and route
    _p("route", "choice", "intravenous", "-", "how CAR T cells reach the grid",
       choices=("intravenous", "intratumoural")),
    _p("iv_entry", "choice", "vessels", "-", "intravenous entry sites: next to vessels, or the grid boundary",
       choices=("vessels", "boundary")),
    _p("et_ratio", "float", 0.25, "CAR T cells per initial tumour cell",
       "dose reaching the grid, as effector:target ratio", 0.0, 100.0),
    _p("iv_transit_hours", "float", 24.0, "hours",
       "mean arrival delay of an intravenous dose (arrival rate ∝ exp(-t/τ)); ignored with a blood trajectory",
       0.0, 1e5, True),
    _p("injection_radius_frac", "float", 0.5, "fraction of tumour radius",
       "intratumoural dose is placed uniformly within this radius of the tumour centre", 0.0, 1.0, True),
    # CAR T: motility
    _p("moves_per_step", "int", 3, "sites per step", "random-walk moves of a CAR T cell per step", 0, 100),
    _p("chemotaxis_bias", "float", 0.5, "probability per move",
       "chance that a move goes down the distance-to-tumour gradient instead of a random direction", 0.0, 1.0),
    _p("chemotaxis_range_sites", "int", 40, "sites", "range of the tumour's chemokine signal", 0, 10000),
    _p("tumour_entry_prob", "float", 0.2, "probability per move",
       "chance that a CAR T cell squeezes onto a site held by a tumour cell", 0.0, 1.0),
    # CAR T: killing, stimulation, proliferation, exhaustion, death
    _p("kill_prob_max", "float", 0.5, "probability per engagement", "chance that an engagement kills", 0.0, 1.0),
    _p("antigen_half_max", "float", 250.0, "antigens per cell",
       "antigen level at which engagement probability is half maximal (at 50 000 CARs per T cell)", 0.0, 1e7, True),
    _p("hill_n", "float", 2.0, "-", "Hill coefficient of engagement probability vs antigen", 0.0, 20.0, True),
    _p("cars_per_t_cell", "float", 50_000.0, "CARs per T cell",
       "CAR density; the half-maximal antigen level scales as 50 000 / this", 0.0, 1e8, True),
    _p("bystander_kill_prob", "float", 0.0, "probability per kill",
       "chance that a kill also kills each other tumour cell in contact, whatever its antigen (bystander effect)",
       0.0, 1.0),
    _p("division_prob", "float", 0.3, "probability per kill", "chance that a kill triggers a division", 0.0, 1.0),
    _p("division_limit", "int", 10, "divisions", "divisions a CAR T lineage can make (CARCADE)", 0, 1000),
    _p("exhaustion_hits", "int", 10, "antigen hits", "a CAR T cell exhausts with more hits than this (CARCADE)",
       0, 100000),
    _p("hit_recovery_hours", "float", 24.0, "hours", "mean time to forget one hit (CARCADE: one per day)",
       0.0, 1e6, True),
    _p("recovery_hits", "int", 5, "antigen hits", "an exhausted cell recovers once its hits fall to this",
       0, 100000),
    _p("car_t_lifespan_hours", "float", 240.0, "hours", "mean lifetime of an active CAR T cell", 0.0, 1e6, True),
    _p("exhausted_death_factor", "float", 2.0, "-", "death-rate multiplier of exhausted CAR T cells", 0.0, 1000),
]

PARAMS: dict[str, Param] = {p.name: p for p in _TABLE}


def defaults() -> dict[str, Any]:
    """All parameters at their default values."""
    return {p.name: p.default for p in _TABLE}


def default_steps(step_hours: float) -> int:
    """Steps covering :data:`DEFAULT_DAYS` at ``step_hours`` hours per step."""
    return int(math.ceil(DEFAULT_DAYS * 24.0 / step_hours))


def _unknown(name: str) -> ParameterError:
    close = difflib.get_close_matches(name, list(PARAMS), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return ParameterError(f"unknown ABM parameter {name!r}{hint}; accepted names: {', '.join(PARAMS)}")


def validate_params(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults updated with ``overrides``, checked; raises :class:`ParameterError` naming the culprit."""
    out = defaults()
    for name, value in (overrides or {}).items():
        if name not in PARAMS:
            raise _unknown(name)
        out[name] = PARAMS[name].check(value)
    total = out["frac_high"] + out["frac_low"] + out["frac_negative"]
    if abs(total - 1.0) > 1e-6:
        raise ParameterError(
            f"ABM parameters frac_high + frac_low + frac_negative must sum to 1 (got {total:g}); "
            "set all three so that they do"
        )
    if out["negative_below"] >= out["high_at_least"]:
        raise ParameterError(
            f"ABM parameter negative_below ({out['negative_below']:g}) must be below high_at_least "
            f"({out['high_at_least']:g}) antigens per cell"
        )
    if out["recovery_hits"] > out["exhaustion_hits"]:
        raise ParameterError(
            f"ABM parameter recovery_hits ({out['recovery_hits']}) must be <= exhaustion_hits "
            f"({out['exhaustion_hits']})"
        )
    return out


def parse_value(name: str, text: str) -> Any:
    """Parse a ``--set NAME=VALUE`` string into the parameter's type (validated later)."""
    if name not in PARAMS:
        raise _unknown(name)
    return PARAMS[name].check(text, text=True)


def parameter_table_markdown() -> str:
    """The parameter table as Markdown (for the README and ``--help``)."""
    rows = ["| name | default | unit | accepted | meaning |", "|---|---|---|---|---|"]
    for p in _TABLE:
        rows.append(f"| `{p.name}` | {p.default!r} | {p.unit} | {p.accepted()} | {p.doc} |")
    return "\n".join(rows)
