"""Kimmel et al. 2021's mean field written out for the tests, independently of the engine."""

import numpy as np

from hybrid import Parameters


def kimmel_rhs(p: Parameters):
    """Equations (2.1)-(2.3) of Kimmel et al. 2021, written out independently of the engine."""

    def f(t, y):
        n, c, b = y
        tot = n + c
        rc = p.rho_C + p.b * (tot - p.K_N) ** 2 / (p.a * tot**2 + (tot - p.K_N) ** 2)
        return [
            -p.r_N * n * np.log(tot / p.K_N),
            -rc * c * np.log(tot / p.K_C),
            p.r_B * b - p.gamma_B * b * c / (p.k_B + c),
        ]

    return f
