"""Initial state of the grid, shared by the fast model and the per-agent reference.

Arrays are indexed ``[x, y]`` like Mesa's grid coordinates and PropertyLayers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["Layout", "initial_layout", "CLASS_EMPTY", "CLASS_HIGH", "CLASS_LOW", "CLASS_NEGATIVE"]

CLASS_EMPTY, CLASS_HIGH, CLASS_LOW, CLASS_NEGATIVE = 0, 1, 2, 3


@dataclass
class Layout:
    """Initial arrays: antigen per tumour cell (antigens/cell, NaN where no tumour), vessels, footprint depth."""

    tumour: np.ndarray  # bool [W, H]: a tumour cell on the site
    antigen: np.ndarray  # float64 [W, H]: antigens per cell (0 where empty)
    vessel: np.ndarray  # bool [W, H]
    depth: np.ndarray  # int32 [W, H]: chessboard distance (sites) to outside the initial tumour; 0 outside
    radius: float  # initial tumour radius (sites)
    centre: tuple[float, float]


def _class_field(n: int, p: dict[str, Any], coords: tuple[np.ndarray, np.ndarray], shape: tuple[int, int],
                 rng: np.random.Generator) -> np.ndarray:
    """Class code per tumour site (in ``coords`` order), exact class counts, mixed or clustered."""
    n_neg = int(round(p["frac_negative"] * n))
    n_low = min(n - n_neg, int(round(p["frac_low"] * n)))
    codes = np.full(n, CLASS_HIGH, dtype=np.int8)
    if p["pattern"] == "mixed":
        order = rng.permutation(n)
    else:
        # A smoothed white-noise field ranked over tumour sites gives patches of the requested size with the
        # requested class fractions exactly.
        sigma = max(p["patch_size_sites"] / 2.5, 0.5)
        field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="wrap")
        order = np.argsort(field[coords], kind="stable")
    codes[order[:n_neg]] = CLASS_NEGATIVE
    codes[order[n_neg:n_neg + n_low]] = CLASS_LOW
    return codes


def initial_layout(p: dict[str, Any], rng: np.random.Generator) -> Layout:
    """Vessels, a tumour disc centred on the grid, and its antigen pattern, drawn from ``rng``."""
    w, h = p["width"], p["height"]
    vessel = rng.random((w, h)) < p["vessel_density"]
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    radius = p["tumour_radius_frac"] * min(w, h)
    xx, yy = np.meshgrid(np.arange(w), np.arange(h), indexing="ij")
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    tumour = disc & ~vessel
    coords = np.nonzero(tumour)
    n = coords[0].size
    codes = _class_field(n, p, coords, (w, h), rng)
    levels = np.array([0.0, p["antigen_high"], p["antigen_low"], 0.0])
    values = levels[codes]
    if p["antigen_mode"] == "continuous" and p["antigen_cv"] > 0:
        s2 = np.log1p(p["antigen_cv"] ** 2)
        values = values * rng.lognormal(-0.5 * s2, np.sqrt(s2), size=n)
    antigen = np.zeros((w, h))
    antigen[coords] = values
    depth = ndimage.distance_transform_cdt(np.pad(disc, 1), metric="chessboard")[1:-1, 1:-1].astype(np.int32)
    return Layout(tumour=tumour, antigen=antigen, vessel=vessel, depth=depth, radius=radius, centre=(cx, cy))


def entry_sites(p: dict[str, Any], vessel: np.ndarray) -> np.ndarray:
    """Flat indices (x * height + y) of intravenous entry sites: vessels and their neighbours, or the boundary."""
    w, h = vessel.shape
    if p["iv_entry"] == "boundary" or not vessel.any():
        mask = np.zeros((w, h), dtype=bool)
        mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = True
    else:
        mask = ndimage.binary_dilation(vessel, structure=np.ones((3, 3), dtype=bool))
    xs, ys = np.nonzero(mask)
    return (xs * h + ys).astype(np.int64)


def injection_sites(p: dict[str, Any], layout: Layout) -> np.ndarray:
    """Flat indices of the sites an intratumoural dose may be placed on (inside the injection radius)."""
    w, h = layout.tumour.shape
    cx, cy = layout.centre
    r = p["injection_radius_frac"] * layout.radius
    xx, yy = np.meshgrid(np.arange(w), np.arange(h), indexing="ij")
    mask = ((xx - cx) ** 2 + (yy - cy) ** 2 <= max(r, 1.0) ** 2) & ~layout.vessel
    xs, ys = np.nonzero(mask)
    return (xs * h + ys).astype(np.int64)
