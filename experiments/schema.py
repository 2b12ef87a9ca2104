"""Reading TOML tables against declared constraints: every config error names the file, the key path and what is
accepted, with the messages of :mod:`hybrid.constraints` (the one validation layer of the project)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from hybrid.constraints import Boolean, Constraint, Interval, one_of
from hybrid.errors import CartsimError
from hybrid.paramspec import ParamSpec


def parse_setting(text: str, flag: str = "--set") -> tuple[list[str], Any]:
    """The one parser of a setting typed as ``KEY=VALUE`` (``--set`` of every command, the app's free-form
    settings): KEY is a dotted path (``cohort.n``, ``groups.slow.r_B``, a parameter name), VALUE is TOML syntax
    (a bare word is taken as a string). The consumer validates the value."""
    if "=" not in text:
        raise CartsimError(f"{flag} {text!r}: expected KEY=VALUE")
    key, raw = text.split("=", 1)
    path = [k.strip() for k in key.strip().split(".")]
    if not all(path):
        raise CartsimError(f"{flag} {text!r}: empty key in {key!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def check(source: str, keypath: str, value: Any, constraint: Constraint, unit: str = "") -> Any:
    """``value`` if ``constraint`` accepts it, else a CartsimError naming ``source`` and ``keypath``."""
    return constraint.check(f"{source}: {keypath or '(top level)'}", value, unit, CartsimError)


def check_number(source: str, keypath: str, v: Any, *, lo: float | None = None, lo_open: bool = False,
                 hi: float | None = None) -> float:
    """``v`` as a finite float within bounds, else a CartsimError naming ``keypath``."""
    return float(check(source, keypath, v, Interval(lo=lo, hi=hi, lo_open=lo_open)))


def check_param(source: str, keypath: str, spec: ParamSpec, v: Any) -> float:
    """A value for model parameter ``spec``, within its declared bounds."""
    return float(check(source, keypath, v, spec.bounds, spec.unit))


class Table:
    """Typed, path-aware access to one TOML table; ``done()`` rejects keys nobody asked for."""

    def __init__(self, source: str, path: str, data: Any):
        self.source, self.path = source, path
        if not isinstance(data, Mapping):
            self.fail(path, f"must be a table, got {type(data).__name__}")
        self.data = dict(data)
        self.seen: set[str] = set()

    def key(self, k: str) -> str:
        return f"{self.path}.{k}" if self.path else k

    def fail(self, keypath: str, msg: str) -> None:
        raise CartsimError(f"{self.source}: {keypath or '(top level)'}: {msg}")

    def has(self, k: str) -> bool:
        return k in self.data

    def raw(self, k: str, default: Any = None) -> Any:
        self.seen.add(k)
        return self.data.get(k, default)

    def value(self, k: str, constraint: Constraint, default: Any = None, *, required: bool = False,
              unit: str = "") -> Any:
        """The value of key ``k`` checked against ``constraint``; ``default`` when absent (unless required)."""
        self.seen.add(k)
        if k not in self.data:
            if required:
                self.fail(self.key(k), f"missing; {constraint.describe()} is required")
            return default
        return check(self.source, self.key(k), self.data[k], constraint, unit)

    def number(self, k: str, default: float | None = None, *, lo: float | None = None, lo_open: bool = False,
               hi: float | None = None, required: bool = False) -> float | None:
        v = self.value(k, Interval(lo=lo, hi=hi, lo_open=lo_open), default, required=required)
        return None if v is None else float(v)

    def integer(self, k: str, default: int | None = None, *, lo: int | None = None, hi: int | None = None,
                required: bool = False) -> int | None:
        return self.value(k, Interval(lo=lo, hi=hi, integer=True), default, required=required)

    def choice(self, k: str, choices: Sequence[str], default: str | None = None) -> str | None:
        return self.value(k, one_of(choices), default)

    def string(self, k: str, default: str | None = None) -> str | None:
        self.seen.add(k)
        v = self.data.get(k, default)
        if v is not None and not isinstance(v, str):
            self.fail(self.key(k), f"must be a string, got {v!r}")
        return v

    def boolean(self, k: str, default: bool) -> bool:
        self.seen.add(k)
        v = self.data.get(k, default)
        if not isinstance(v, bool):  # TOML has real booleans: text such as "yes" is a mistake here
            self.fail(self.key(k), f"must be {Boolean().describe()}, got {v!r}")
        return v

    def table(self, k: str) -> Table | None:
        self.seen.add(k)
        if k not in self.data:
            return None
        return Table(self.source, self.key(k), self.data[k])

    def done(self, accepted: Sequence[str] | None = None) -> None:
        extra = [k for k in self.data if k not in self.seen]
        if extra:
            acc = accepted if accepted is not None else sorted(self.seen)
            what = "section" if isinstance(self.data[extra[0]], Mapping) else "key"
            self.fail(self.key(extra[0]), f"unknown {what}; accepted here: {', '.join(acc) or '(none)'}")


def config_header(cfg: Mapping[str, Any], source: str, kind: str, delegated: Sequence[str]) -> tuple[Table, str]:
    """A config's top table with ``kind`` checked and its tables ``delegated`` (read by another validator, such
    as the population's cohort tables) marked as seen; and its title."""
    top = Table(source, "", cfg)
    top.choice("kind", (kind,))
    title = top.string("title", "") or ""
    top.string("description")
    for k in delegated:
        top.seen.add(k)
    return top, title
