"""ABM speed: steps/s of :class:`abm.TumourModel` against grid size, and the ratio against the plain per-agent
Mesa version of the same rules (:class:`abm.ReferenceTumourModel`), in the same process.

Workload per size: a ``mixed_negative`` tumour disc of radius 0.4 × width (≈ 2e4 cells at 200², 30% of them
antigen-negative) with an intratumoural dose of 0.25 CAR T cells per tumour cell spread over the whole tumour
(≈ 5e3 at 200²), so the lattice is fully loaded from step 1 and stays loaded: the CAR T cells clear the
antigen-positive cells and the negative ones regrow, so every timed step works on a living tumour (the table
shows the tumour at the last timed step; an antigen-high tumour would be gone by step 15 and its later steps
would time an empty lattice). Both models start from the identical state (same seed, same layout code).
Model construction and JIT compilation are excluded from the timings. Numba runs single-threaded (one core).

    python -m benchmarks.bench_abm            # full table (50² … 400²), about a minute or two
    python -m benchmarks.bench_abm --quick    # 50² and 100² only
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

__all__ = ["run", "markdown", "workload"]


def workload(size: int) -> dict[str, Any]:
    """Parameters of the benchmark state at ``size`` × ``size`` sites."""
    from abm.scenarios import scenario_params

    return scenario_params("mixed_negative", {"width": size, "height": size, "route": "intratumoural",
                                            "injection_radius_frac": 1.0})


def _time_steps(model, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        model.step()
    return time.perf_counter() - t0


def _warm_up() -> None:
    from abm.model import TumourModel

    m = TumourModel(seed=0, **workload(20))
    for _ in range(3):
        m.step()


def run(sizes=(50, 100, 200, 400), quick: bool = False) -> dict[str, Any]:
    """Measure; returns ``{"rows": [...], ...}`` with plain numbers (steps/s, ratios, cell counts)."""
    from abm.model import TumourModel
    from abm.reference import ReferenceTumourModel

    if quick:
        sizes = tuple(s for s in sizes if s <= 100) or (50,)
    _warm_up()
    rows = []
    for size in sizes:
        p = workload(size)
        fast_steps = 10 if quick else 40
        # The reference is slow: time it on the first few steps only, and the fast model on the same steps.
        ref_steps = max(1, min(5, (20 if quick else 40) * 2500 // (size * size)))
        fast = TumourModel(seed=1, **p)
        tumour0, car0 = fast.tumour_cells, fast.car_t_cells
        t_fast = _time_steps(fast, fast_steps)
        if fast.tumour_cells == 0:
            raise RuntimeError(f"the benchmark tumour at {size}² was eliminated within the timed steps")
        t_fast_same = min(_time_steps(TumourModel(seed=1, **p), ref_steps) for _ in range(2))
        ref = ReferenceTumourModel(seed=1, **p)
        assert ref.tumour_cells == tumour0 and ref.car_t_cells == car0, "reference starts from another state"
        t_ref = _time_steps(ref, ref_steps)
        rows.append({
            "size": size, "tumour_cells": tumour0, "car_t_cells": car0,
            "tumour_cells_end": fast.tumour_cells, "car_t_cells_end": fast.car_t_cells,
            "steps_per_s": fast_steps / t_fast,
            "steps_timed": fast_steps,
            "reference_steps_per_s": ref_steps / t_ref,
            "reference_steps_timed": ref_steps,
            "ratio": (ref_steps / t_fast_same) / (ref_steps / t_ref),
        })
    return {"benchmark": "abm", "rows": rows, "python": platform.python_version(),
            "machine": platform.machine(), "quick": quick,
            "target": "≥ 20 steps/s at 200² and ≥ 10× the per-agent Mesa reference"}


def markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table."""
    lines = ["| grid | tumour cells | CAR T cells | at the last timed step | steps/s (Numba+PropertyLayers) "
             "| steps/s (per-agent Mesa) | speed-up |", "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        end = f"{r['tumour_cells_end']} and {r['car_t_cells_end']}" if "tumour_cells_end" in r else "—"
        lines.append(f"| {r['size']}² | {r['tumour_cells']} | {r['car_t_cells']} | {end} | {r['steps_per_s']:.0f} | "
                     f"{r['reference_steps_per_s']:.2f} | {r['ratio']:.0f}× |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_abm", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grids only")
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 400], help="grid sizes (sites)")
    args = ap.parse_args(argv)
    print(markdown(run(tuple(args.sizes), quick=args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
