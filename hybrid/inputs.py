"""Input files as data: every file a user names (a config, an SBML model, a CSV of observations) is read through
:func:`read_input`, which refuses what is not a regular file and anything larger than a limit, so that a path
such as ``/dev/zero`` or a runaway download ends in one line instead of exhausting memory. :func:`quote` is how
an error message shows a value taken from input: bounded in length, control characters escaped."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import CartsimError

MAX_INPUT_MB = 64.0
"""Default size limit of one input file (MB); ``CARTSIM_MAX_INPUT_MB`` in the environment overrides it."""


def max_input_bytes() -> int:
    """The size limit of one input file in bytes (``CARTSIM_MAX_INPUT_MB`` or :data:`MAX_INPUT_MB`)."""
    raw = os.environ.get("CARTSIM_MAX_INPUT_MB")
    try:
        mb = float(raw) if raw else MAX_INPUT_MB
    except ValueError:
        raise CartsimError(f"CARTSIM_MAX_INPUT_MB: {quote(raw)} is not a number of megabytes") from None
    if not mb > 0:
        raise CartsimError(f"CARTSIM_MAX_INPUT_MB: must be > 0, got {quote(raw)}")
    return int(mb * 2**20)


def quote(value: object, limit: int = 60) -> str:
    """``value`` as it may appear in a message: its repr (control characters escaped), cut to ``limit``."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_input(path: str | Path, what: str, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (``what`` names it in errors: "config file", "SBML file"); at most
    ``limit`` bytes (default :func:`max_input_bytes`). Devices, pipes, directories and larger files are refused
    before anything is read into memory."""
    limit = max_input_bytes() if limit is None else limit
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise CartsimError(f"{p}: {what} not found") from None
    except OSError as exc:
        raise CartsimError(f"{p}: cannot read the {what} ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise CartsimError(f"{p}: is a directory; give a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise CartsimError(f"{p}: not a regular file; a {what} must be a file on disk")
    if st.st_size > limit:
        raise CartsimError(f"{p}: the {what} is {st.st_size / 2**20:.1f} MB, over the limit of "
                           f"{limit / 2**20:.0f} MB (CARTSIM_MAX_INPUT_MB raises it)")
    try:
        with p.open("rb") as fh:
            data = fh.read(limit + 1)  # a file that grows while read (or reports no size, as /proc does)
    except PermissionError:
        raise CartsimError(f"{p}: cannot read the {what} (permission denied)") from None
    except OSError as exc:
        raise CartsimError(f"{p}: cannot read the {what} ({exc.strerror})") from None
    if len(data) > limit:
        raise CartsimError(f"{p}: the {what} is over the limit of {limit / 2**20:.0f} MB (CARTSIM_MAX_INPUT_MB "
                           "raises it)")
    return data


def read_text_input(path: str | Path, what: str, limit: int | None = None) -> str:
    """:func:`read_input` decoded as UTF-8; a file that is not UTF-8 is refused naming the byte."""
    data = read_input(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CartsimError(f"{path}: the {what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


__all__ = ["MAX_INPUT_MB", "max_input_bytes", "quote", "read_input", "read_text_input"]
