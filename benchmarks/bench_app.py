"""How fast the app's patient page answers a slider: the exact-path update (mean field, exact P(cure by t) on
366 days, the figure rendered to PNG) for one patient on one core, after the kernels are loaded.

    python -m benchmarks.bench_app [--repeats 20]      # target: < 200 ms
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

import hybrid
from experiments.app.pages import patient_figure


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    opts = hybrid.SimOptions()
    patient_figure(hybrid.Parameters.from_preset("kimmel2021"), opts, [])  # load the kernels
    compute, total = [], []
    for k in range(args.repeats):
        p = hybrid.Parameters.from_preset("kimmel2021", r_B=0.08 + 0.005 * k)  # a slider moving
        t0 = time.perf_counter()
        fig, _ = patient_figure(p, opts, [])
        t1 = time.perf_counter()
        fig.savefig(io.BytesIO(), format="png")
        t2 = time.perf_counter()
        compute.append(t1 - t0)
        total.append(t2 - t0)
    print(f"figure built (mean field + exact curve + plotting): median {1e3 * np.median(compute):.0f} ms")
    print(f"... and rendered to PNG: median {1e3 * np.median(total):.0f} ms, max {1e3 * max(total):.0f} ms "
          f"(target < 200 ms: {'met' if np.median(total) < 0.2 else 'missed'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
