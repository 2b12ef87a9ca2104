"""Declarative constraints on values: declared once beside each parameter or option, messages generated.

Modelled on scikit-learn's ``_param_validation``: a constraint knows how to test a value and how to describe
what it accepts, so every front end (Python API, TOML configs, command line, ABM) reports a bad value the same
way: ``<where>: must be <description>[ (<unit>)], got <value>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ParameterError
from .inputs import quote


class Constraint:
    """A set of accepted values. Subclasses implement :meth:`coerce` and :meth:`describe`."""

    def coerce(self, value: Any) -> Any:
        """``value`` converted to the accepted type, or raise ValueError if it is not accepted."""
        raise NotImplementedError

    def describe(self) -> str:
        """What is accepted, as a phrase: 'a number > 0', "one of 'ssa', 'tau'"."""
        raise NotImplementedError

    def check(self, where: str, value: Any, unit: str = "", error: type[Exception] = ParameterError,
              text: bool = False) -> Any:
        """The coerced value, or ``error`` naming ``where``, the accepted values and the unit. ``text``: also
        accept the value written as a string (command-line input)."""
        try:
            if text and isinstance(value, str) and isinstance(self, Interval):
                value = float(value.strip())
            return self.coerce(value)
        except (TypeError, ValueError):
            u = f" ({unit})" if unit and unit not in ("1", "-") else ""
            raise error(f"{where}: must be {self.describe()}{u}, got {quote(value)}") from None


@dataclass(frozen=True)
class Interval(Constraint):
    """Finite numbers (``integer`` True: whole numbers) within optional bounds; ``*_open`` excludes a bound."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def coerce(self, value: Any) -> float | int:
        if isinstance(value, bool):
            raise TypeError("a boolean is not a number")
        if isinstance(value, str):
            raise TypeError("text is not a number")
        if not isinstance(value, int | float | np.floating | np.integer):
            raise TypeError(f"not a number: {type(value).__name__}")
        x = float(value)
        if not math.isfinite(x):
            raise ValueError("not finite")
        if self.integer:
            if not x.is_integer():
                raise ValueError("not a whole number")
            x = int(value) if isinstance(value, int) else int(x)
        if not self.contains(x):
            raise ValueError("out of bounds")
        return x

    def contains(self, x: float) -> bool:
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))

    def contains_array(self, x: np.ndarray) -> np.ndarray:
        """Elementwise :meth:`contains` (NaN is outside every interval)."""
        ok = ~np.isnan(x)
        if self.lo is not None:
            ok &= (x > self.lo) if self.lo_open else (x >= self.lo)
        if self.hi is not None:
            ok &= (x < self.hi) if self.hi_open else (x <= self.hi)
        return ok

    def describe(self) -> str:
        what = "an integer" if self.integer else "a number"
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return f"{what} {' and '.join(parts)}".strip()


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def coerce(self, value: Any) -> Any:
        if isinstance(value, bool) or value not in self.values:
            raise ValueError("not one of the accepted values")
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Boolean(Constraint):
    """true or false; as text also yes/no, on/off, 1/0."""

    def coerce(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
        raise ValueError("not a boolean")

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Optional(Constraint):
    """None, or a value accepted by ``inner``."""

    inner: Constraint

    def coerce(self, value: Any) -> Any:
        return None if value is None else self.inner.coerce(value)

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"


POSITIVE = Interval(lo=0.0, lo_open=True)
NON_NEGATIVE = Interval(lo=0.0)


def one_of(values: Sequence[Any]) -> OneOf:
    return OneOf(tuple(values))

def invalid_values(c: Constraint) -> list[Any]:
    """Values ``c`` refuses, one for each way a value can be wrong: beyond each bound (by a little and by a lot),
    not finite, not a number, not whole, not a choice. Tests draw their bad input from here (the idea of
    scikit-learn's ``generate_invalid_param_val``), so a new parameter or option is covered without a hand-written
    case."""
    if isinstance(c, Optional):
        return [v for v in invalid_values(c.inner) if v is not None]
    if isinstance(c, OneOf):
        return ["not-a-choice", True, 1.5]
    if isinstance(c, Boolean):
        return ["maybe", 2, 0.5]
    if not isinstance(c, Interval):
        raise TypeError(f"no invalid values known for {type(c).__name__}")
    out: list[Any] = [math.nan, math.inf, -math.inf, "twelve", True, None]
    if c.lo is not None:
        out.append(c.lo if c.lo_open else float(np.nextafter(c.lo, -np.inf)))
        out.append(c.lo - max(1.0, abs(c.lo)))
    if c.hi is not None:
        out.append(c.hi if c.hi_open else float(np.nextafter(c.hi, np.inf)))
        out.append(c.hi + max(1.0, abs(c.hi)))
    if c.integer:
        lo = c.lo if c.lo is not None else 0.0
        out.append(lo + 1.5)
    return out

