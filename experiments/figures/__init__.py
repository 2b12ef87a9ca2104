"""Figures of every experiment (matplotlib, PNG). The one backend switch (:func:`pyplot`) and the one save
helper (:func:`save`, atomic) live here, so no module selects a backend of its own and no figure is ever
half-written."""

from __future__ import annotations

from pathlib import Path

DPI = 120


def use_agg() -> None:
    """The one backend switch: matplotlib's file backend (Agg); figures are written or served, never shown in a
    window."""
    import matplotlib

    matplotlib.use("Agg")


def pyplot():
    """matplotlib.pyplot on the file backend (:func:`use_agg`)."""
    use_agg()
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    """Lay out ``fig``, write it to ``path`` as PNG atomically (a reader never sees half a file) and close it."""
    from experiments.outputs import atomic_path

    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    pyplot().close(fig)
    return Path(path)
