"""Reproducible virtual patients: patient i's parameters and simulation stream depend only on (seed, i).

Two independent streams per patient:
- simulation: ``SeedSequence(seed, spawn_key=(i,))`` == ``SeedSequence(seed).spawn(n)[i]``, handed to the engine;
- parameter sampling: ``SeedSequence((seed, SAMPLING_TAG), spawn_key=(i,))``, one uniform per parameter slot.
Different entropy keeps the two streams independent whatever the engine derives from its seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.cohort.distributions import truncnorm_ppf, variability_sd
from experiments.cohort.spec import Spec
from hybrid.catalog import get_model
from hybrid.rng import SpawnedSeeds

SAMPLING_TAG = 0x43415254  # "CART"
_U53 = 2.0**-53


def patient_seeds(seed: int, ids: np.ndarray) -> SpawnedSeeds:
    """The simulation streams of patients ``ids`` of a cohort with seed ``seed``."""
    return SpawnedSeeds(seed, ids)


def patient_uniforms(seed: int, ids: np.ndarray, k: int) -> np.ndarray:
    """Uniforms in (0, 1), shape (len(ids), k): row r comes from patient ids[r]'s own sampling stream."""
    words = SpawnedSeeds((seed, SAMPLING_TAG), ids).states(k)
    return ((words >> np.uint64(11)).astype(np.float64) + 0.5) * _U53


def group_index(spec: Spec, ids: np.ndarray) -> np.ndarray:
    """Group number of each patient id: contiguous blocks in config order (sizes from Spec.group_sizes)."""
    bounds = np.cumsum(spec.group_sizes())
    return np.searchsorted(bounds, ids, side="right")


def sample_patients(spec: Spec, start: int, stop: int) -> pd.DataFrame:
    """Patients ``start..stop-1``: columns id, seed, group, then every parameter of the model (cells, days).

    Values set by a group or a sweep point are held fixed; explicit ``[parameters]`` distributions are drawn as
    given; every other parameter listed in ``[variability].parameters`` is perturbed by the group's (or the
    cohort's) variability level around its base value, truncated to valid values.
    """
    ids = np.arange(start, stop, dtype=np.int64)
    gidx = group_index(spec, ids)
    model = get_model(spec.model)
    u = patient_uniforms(spec.seed, ids, len(model.param_names))
    cols: dict[str, np.ndarray] = {}
    vlevel = np.array([g.variability if g.variability is not None else spec.variability for g in spec.groups])
    v = vlevel[gidx]
    for j, pspec in enumerate(model.params):
        name = pspec.name
        base = np.array([g.values.get(name, spec.base[name]) for g in spec.groups])[gidx]
        fixed_by_group = np.array([name in g.values for g in spec.groups])[gidx]
        if name in spec.dists:
            col = spec.dists[name].ppf(u[:, j])
        elif name in spec.variable_params:
            sd = np.where(fixed_by_group, 0.0, variability_sd(base, v, spec.variability_reading))
            col = truncnorm_ppf(u[:, j], base, sd, pspec.lower_bound)
        else:
            col = base.astype(float)
        # inverse-CDF rounding can land exactly on an open bound (0) for u ~ 1e-17; keep the value valid
        col = np.maximum(col, pspec.lower_bound)
        cols[name] = col
    df = pd.DataFrame({"id": ids, "seed": np.full(len(ids), spec.seed, dtype=np.int64),
                       "group": np.array([g.name for g in spec.groups], dtype=object)[gidx]})
    for name in model.param_names:
        df[name] = cols[name]
    if spec.nonresponse is not None and spec.nonresponse.active:
        df = spec.nonresponse.apply(df, spec.nonresponse.classes(spec.seed, ids), spec.model)
    return df
