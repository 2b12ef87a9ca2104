"""hybrid.tumour_below_exact against Kendall's exact size distribution of a linear birth-death process with
constant rates (no CAR T cells: C0 = 0, so each tumour cell divides at r_B + d_B and dies at d_B for all time)."""

import math

import numpy as np
import pytest

import hybrid
from hybrid import Parameters, SimOptions

B0, R_B, D_B, T = 1000, 0.003, 0.3, 2000.0
N_DRAWS = 400_000


def _patient():
    m = hybrid.get_model("kimmel2021")
    return Parameters(m, **{**m.preset("kimmel2021"), "C0": 0.0, "B0": float(B0), "r_B": R_B, "d_B": D_B})


def _kendall_sizes() -> tuple[np.ndarray, float]:
    """Draws of Z(T) from B0 cells by Kendall (1948): each lineage extinct with probability a, else geometric
    with parameter 1 - b on 1, 2, ...; so the survivors are Binomial(B0, 1 - a) and their total is the survivors
    plus a negative binomial. Returns the draws and the survival probability 1 - a."""
    lam, mu = R_B + D_B, D_B
    e = math.exp((lam - mu) * T)
    a = mu * (e - 1) / (lam * e - mu)
    b = lam * (e - 1) / (lam * e - mu)
    rng = np.random.default_rng(2024)
    k = rng.binomial(B0, 1 - a, N_DRAWS)
    return k + rng.negative_binomial(np.maximum(k, 1), 1 - b) * (k > 0), 1 - a


@pytest.mark.parametrize("level", [2e5, 4e5, 6e5])
def test_the_size_law_matches_kendalls_distribution(level):
    sizes, s = _kendall_sizes()
    exact = float((sizes < level).mean())
    se = math.sqrt(exact * (1 - exact) / N_DRAWS)
    got = hybrid.tumour_below_exact([_patient()], np.array([T]), level, SimOptions(t_end=T))[0, 0]
    # 4 SE of the draws, plus the kernel's stated approximation: survivors Poisson(B0 s) instead of
    # Binomial(B0, s), a relative change of O(s) = 0.01 in their spread (B0 ~ 1e11 in use: then exact)
    assert abs(got - exact) <= 4 * se + s * min(exact, 1 - exact), (got, exact, se)


def test_several_levels_come_from_one_solve_and_relative_levels_scale_with_b0():
    p = _patient()
    both = hybrid.tumour_below_exact([p], np.array([T]), (4e5, 400.0), SimOptions(t_end=T), relative=(False, True))
    one = hybrid.tumour_below_exact([p], np.array([T]), 4e5, SimOptions(t_end=T))
    assert both.shape == (1, 1, 2) and both[0, 0, 0] == one[0, 0] == both[0, 0, 1]  # 400 x B0 = 4e5 cells
    with pytest.raises(hybrid.CartsimError, match="level"):
        hybrid.tumour_below_exact([p], np.array([T]), -1.0)
