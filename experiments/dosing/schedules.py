"""Dose schedules: how a total CAR T dose is given — one infusion, split over consecutive days, or k infusions
every d days — each infusion with or without lymphodepletion before it.

A schedule turns a total dose into the patient's infused cells at day 0 (the effector's start, ``C0`` in Kimmel's
model; without lymphodepletion before it, the normal T cells start at their homeostatic level K_N instead of
the post-lymphodepletion N0) and the later infusions (:class:`hybrid.Dose`: a lymphodepletion resets N to N0
first, as in Kimmel et al. §3g).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from hybrid import Dose, ModelSpec, SimOptions
from hybrid.errors import CartsimError

SPLIT_SOURCE = ("fractionated over days 0-2 (10% / 30% / 60%) as in early CD19 CAR T trials, e.g. Porter et al. "
                "2015, Sci Transl Med 7:303ra139")


@dataclass(frozen=True)
class Schedule:
    """Infusions on ``days`` (the first on day 0) carrying ``fractions`` of the total dose (summing to 1), each
    after lymphodepletion where ``lymphodepletion`` says so."""

    name: str
    days: tuple[float, ...] = (0.0,)
    fractions: tuple[float, ...] = (1.0,)
    lymphodepletion: tuple[bool, ...] = (True,)

    def __post_init__(self) -> None:
        n = len(self.days)
        if not (n == len(self.fractions) == len(self.lymphodepletion)) or n == 0:
            raise CartsimError(f"schedule {self.name!r}: days, fractions and lymphodepletion need one entry per "
                               f"infusion, got {len(self.days)}, {len(self.fractions)}, "
                               f"{len(self.lymphodepletion)}")
        if self.days[0] != 0 or any(b <= a for a, b in zip(self.days, self.days[1:], strict=False)):
            raise CartsimError(f"schedule {self.name!r}: days must start at 0 and increase, got {list(self.days)}")
        if any(not f > 0 for f in self.fractions) or abs(sum(self.fractions) - 1.0) > 1e-9:
            raise CartsimError(f"schedule {self.name!r}: fractions must be > 0 and sum to 1, got "
                               f"{list(self.fractions)} (sum {sum(self.fractions):g})")

    @classmethod
    def single(cls, lymphodepletion: bool = True) -> Schedule:
        return cls("single", (0.0,), (1.0,), (lymphodepletion,))

    @classmethod
    def split(cls, fractions: Sequence[float] = (0.1, 0.3, 0.6), name: str = "split 10/30/60") -> Schedule:
        """Consecutive days, lymphodepletion before the first only."""
        k = len(fractions)
        return cls(name, tuple(float(d) for d in range(k)), tuple(fractions), (True, *([False] * (k - 1))))

    @classmethod
    def repeated(cls, k: int, every_days: float, lymphodepletion_each: bool, name: str | None = None) -> Schedule:
        """``k`` equal infusions every ``every_days`` days; lymphodepletion before each, or before the first."""
        return cls(name or f"{k} x every {every_days:g} d" + (" (LD each)" if lymphodepletion_each else ""),
                   tuple(i * float(every_days) for i in range(k)), tuple([1.0 / k] * k),
                   tuple([True] + [lymphodepletion_each] * (k - 1)))

    def starts(self, model: ModelSpec) -> tuple[str, tuple[str, str] | None]:
        """The parameters the day-0 infusion sets on ``model``: the effector's start and, without
        lymphodepletion first, (the lymphocytes' start, the level they then start at: ``K_N``, their
        homeostatic capacity). A CartsimError naming the model when it has no such parameter."""
        effector = model.start_of(model.effector)
        if effector is None:
            raise CartsimError(f"model {model.name}: its effector's start is not one parameter: no dose to set")
        if self.lymphodepletion[0]:
            return effector, None
        lymph = model.start_of(model.lymphocytes)
        if lymph is None or "K_N" not in model.param_specs:
            raise CartsimError(f"schedule {self.name!r}: no lymphodepletion before the first infusion needs "
                               f"normal T cells at their capacity K_N; model {model.name} has none")
        return effector, (lymph, "K_N")

    def apply(self, patients: pd.DataFrame, total_cells: float, options: SimOptions, model: ModelSpec
              ) -> tuple[pd.DataFrame, SimOptions]:
        """The patients' table (of ``model``) with the day-0 infusion as the effector's start (and the
        lymphocytes at K_N without lymphodepletion first), and the options with the later infusions as doses
        (any doses already there come first)."""
        if not total_cells > 0:
            raise CartsimError(f"dose must be > 0 cells, got {total_cells!r}")
        if self.days[-1] >= options.t_end:
            raise CartsimError(f"schedule {self.name!r}: infusion on day {self.days[-1]:g} is not before the end "
                               f"of follow-up ({options.t_end:g} days)")
        effector, lymph = self.starts(model)
        out = patients.copy()
        out[effector] = self.fractions[0] * total_cells
        if lymph is not None:
            out[lymph[0]] = out[lymph[1]]
        later = tuple(Dose(day=d, car_t_cells=f * total_cells, lymphodepletion=ld)
                      for d, f, ld in zip(self.days[1:], self.fractions[1:], self.lymphodepletion[1:], strict=True))
        return out, replace(options, doses=tuple(options.doses) + later)

    def describe(self) -> dict:
        return {"name": self.name, "days": list(self.days), "fractions": list(self.fractions),
                "lymphodepletion": list(self.lymphodepletion)}

