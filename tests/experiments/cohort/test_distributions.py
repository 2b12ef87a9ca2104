"""Inverse-CDF sampling of cohort distributions against SciPy, far into both tails of a truncated normal."""

import numpy as np
import pytest
from scipy import stats

from experiments.cohort.distributions import truncnorm_ppf

U = np.array([1e-12, 1e-6, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-6, 1 - 1e-12])


@pytest.mark.parametrize(
    ("mean", "sd", "lo", "hi"),
    [
        (1.0, 0.1, 1.9, np.inf),     # 9 sd above the mean: the case, used to give inf
        (1.0, 0.1, 5.0, np.inf),     # 40 sd: beyond double-precision normal tail probabilities
        (1.0, 0.1, -np.inf, 0.1),    # 9 sd below
        (1.0, 0.1, -np.inf, -3.0),   # 40 sd below
        (1.0, 0.1, 1.9, 2.1),        # a narrow window far in the upper tail
        (1.0, 0.1, 0.0, np.inf),     # ordinary truncation at the lower end
        (6.96e10, 3.48e9, 5e-324, np.inf),
    ],
)
def test_truncnorm_ppf_matches_scipy(mean, sd, lo, hi):
    got = truncnorm_ppf(U, mean, sd, lo, hi)
    ref = stats.truncnorm.ppf(U, (lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)
    assert np.all(np.isfinite(got))
    assert np.all((got >= lo) & (got <= hi))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * sd)
    assert np.all(np.diff(got) >= 0)
