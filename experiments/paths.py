"""Where a config may point. A data path in a config (``cohort.sbml``, ``output.observed_pfs_csv``,
``data.kinetics_csv``, ...) is resolved against the config's own folder; while a server runs a user's config
(the web app), :func:`confined` limits every such path to that user's upload area, so a config can name no
other file on the server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from hybrid.errors import CartsimError
from hybrid.inputs import quote

PACKAGE = Path(__file__).resolve().parent
"""The experiments package folder: its shipped configs and data."""
CONFIGS = PACKAGE / "configs"
"""The shipped experiment configs."""
DATA = PACKAGE / "data"
"""The shipped data files (digitised curves, kinetics)."""

_ROOTS: ContextVar[tuple[Path, ...] | None] = ContextVar("cartsim_data_roots", default=None)


@contextmanager
def confined(*roots: str | Path) -> Iterator[None]:
    """Within the block (this thread or task), :func:`data_path` accepts only files under ``roots``."""
    token = _ROOTS.set(tuple(Path(r).resolve() for r in roots))
    try:
        yield
    finally:
        _ROOTS.reset(token)


def data_path(source: str, keypath: str, raw: str) -> Path:
    """The file a config's ``keypath = raw`` names: relative paths are read from the config's folder; the file
    must exist (and, inside :func:`confined`, lie under an allowed root). Errors quote ``raw``, not the path it
    resolved to, so a server's folders never appear in a message."""
    p = Path(raw)
    if not p.is_absolute():
        p = Path(source).resolve().parent / p
    p = p.resolve()
    roots = _ROOTS.get()
    if roots is not None and not any(p.is_relative_to(r) for r in roots):
        raise CartsimError(f"{source}: {keypath}: {quote(raw)} is not a file of this session; drop the file here "
                           "and name it by its file name")
    if not p.exists():
        raise CartsimError(f"{source}: {keypath}: data file not found: {quote(raw)}")
    if not p.is_file():  # a device (/dev/zero), a pipe or a directory: never read
        raise CartsimError(f"{source}: {keypath}: {quote(raw)} is not a regular file")
    return p


__all__ = ["confined", "data_path"]
