"""The provenance record stamped on every output: which cartsim, which command, which config, which seeds,
which libraries, when.

Every command that writes results (run, abm, cure, fit, predict) opens a record with :func:`start` before its
work and stamps it with :meth:`Provenance.stamp`: ``provenance.json`` in the output directory and the same record
under ``"provenance"`` in every JSON document it writes. Tables (Parquet) carry no provenance, so that two runs
of the same config give byte-identical tables.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("cartsim", "numpy", "numba", "scipy", "pandas", "pyarrow", "lifelines", "SALib", "dask", "distributed",
             "matplotlib", "mesa", "python-libsbml", "emcee")
"""The packages whose versions shape cartsim's numbers."""
FILE = "provenance.json"


def versions() -> dict[str, str]:
    """Versions of Python, cartsim and the libraries that shape its numbers (:data:`LIBRARIES`)."""
    out = {"python": platform.python_version()}
    for pkg in LIBRARIES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Provenance:
    """One run's record. ``entry``: the library function that ran (``experiments.cohort.run_cohort``, ...);
    ``config``: the config as run (after every override; None for a command without one); ``seeds``: every
    seed that fixes its random streams."""

    entry: str
    config: Any = None
    seeds: Mapping[str, Any] = field(default_factory=dict)
    started: str = field(default_factory=_now)

    def record(self) -> dict[str, Any]:
        """The record as JSON-ready data, ended now."""
        return {"cartsim": versions()["cartsim"], "entry": self.entry, "command": list(sys.argv),
                "config": self.config, "seeds": dict(self.seeds), "versions": versions(), "started": self.started,
                "ended": _now()}

    def stamp(self, doc: dict[str, Any] | None = None, out_dir: Path | None = None) -> dict[str, Any]:
        """Put the record into ``doc`` (under "provenance", returned) and, with ``out_dir``, write it to
        ``out_dir/provenance.json``."""
        from experiments.outputs import write_json

        rec = self.record()
        if out_dir is not None:
            write_json(Path(out_dir) / FILE, rec)
        doc = {} if doc is None else doc
        doc["provenance"] = rec
        return doc


def start(entry: str, config: Any = None, **seeds: Any) -> Provenance:
    """Open the record of a run of ``entry`` (see :class:`Provenance`)."""
    return Provenance(entry, config, seeds)
