"""Unit conversions at the edges. Internally cartsim counts cells and measures time in days.

Blood counts are cells/µL of peripheral blood; the curated Kimmel model maps 1 cell/µL to 5e8 cells in the body
(K_N = 500 cells/µL <-> 2.5e11 cells). Tumour volume: 1 ml of tumour = 1e9 cells.
Each function takes a number or an array and returns the same kind.
"""

from __future__ import annotations

import numpy as np

CELLS_PER_UL = 5.0e8
"""Body cells per cell/µL of blood (default scale of the curated Kimmel model)."""

CELLS_PER_ML = 1.0e9
"""Tumour cells per ml of tumour volume."""


DAYS_PER_MONTH = 365.25 / 12
"""Days in a month, as survival curves in months are read (a Julian year over 12)."""


def blood_to_cells(per_ul, cells_per_ul: float = CELLS_PER_UL):
    """Blood count in cells/µL -> cells in the body."""
    return np.multiply(per_ul, cells_per_ul)


def cells_to_blood(cells, cells_per_ul: float = CELLS_PER_UL):
    """Cells in the body -> blood count in cells/µL."""
    return np.divide(cells, cells_per_ul)


def volume_to_cells(ml, cells_per_ml: float = CELLS_PER_ML):
    """Tumour volume in ml -> tumour cells."""
    return np.multiply(ml, cells_per_ml)


def cells_to_volume(cells, cells_per_ml: float = CELLS_PER_ML):
    """Tumour cells -> tumour volume in ml."""
    return np.divide(cells, cells_per_ml)
