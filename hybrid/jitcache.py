"""Keep Numba's on-disk cache consistent with the sources.

Numba keys a cached kernel on the stamp of the file that defines it, not on the files of the jitted functions
it calls; a kernel in engine.py would keep running an old integrator.py after an edit. Each package with
kernels calls :func:`refresh` before importing them: if any source file of the package or its subpackages
changed since the cache was written, the package's cache files are dropped and rebuilt on first use.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _fingerprint(package_dir: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(package_dir.rglob("*.py")):
        st = f.stat()
        h.update(f"{f.relative_to(package_dir)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def refresh(package_dir: str | os.PathLike) -> bool:
    """Drop the package's Numba cache files if its sources changed since they were written. Returns True when
    the kernels will be compiled afresh (a new install, or an edit), so callers can say so."""
    pkg = Path(package_dir)
    cache = pkg / "__pycache__"
    stamp = cache / "numba-sources.stamp"
    fp = _fingerprint(pkg)
    try:
        if stamp.read_text() == fp:  # (a run that failed before compiling anything leaves no .nbi: no news)
            return False
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in pkg.rglob("__pycache__/*.nb[ic]"):  # subpackages (hybrid/models) included
            f.unlink(missing_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(fp)
        tmp.replace(stamp)
    except OSError:  # a read-only install: Numba then compiles in memory or in NUMBA_CACHE_DIR
        pass
    return True
