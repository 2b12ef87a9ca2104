"""Scheduled interventions inside the kernels: the dose table and the one routine, shared by the engine and the
oracle, that says where the integrator must stop next and applies what is due there.

A patient's doses are a float table, one row per dose in day order, columns ``D_*``: the day, the species it
acts on, the operation (add cells, or set the species to a value: lymphodepletion resets lymphocytes) and the
value (cells).
"""

from __future__ import annotations

from numba import njit

D_DAY = 0
D_SPECIES = 1
D_OP = 2
D_VALUE = 3
D_SIZE = 4

DOSE_ADD = 0
DOSE_SET = 1


@njit(cache=True, inline="always")
def next_stop(t_end, idose, doses):
    """The next day the integrator must land on exactly: the next dose, or t_end."""
    if idose < doses.shape[0] and doses[idose, D_DAY] < t_end:
        return doses[idose, D_DAY]
    return t_end


@njit(cache=True)
def apply_doses(y, t, idose, doses):
    """Apply every dose scheduled at or before day t from row idose on; returns the next dose row."""
    while idose < doses.shape[0] and doses[idose, D_DAY] <= t:
        sp = int(doses[idose, D_SPECIES])
        if doses[idose, D_OP] == DOSE_SET:
            y[sp] = doses[idose, D_VALUE]
        else:
            y[sp] += doses[idose, D_VALUE]
        idose += 1
    return idose


@njit(cache=True, inline="always")
def reached(t, t_stop):
    """Whether t is at t_stop up to rounding (the integrator then lands on t_stop exactly)."""
    return t_stop - t <= 1e-12 * max(1.0, t_stop)
