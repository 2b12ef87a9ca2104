"""Speed of an imported SBML model against the built-in one it came from: Kimmel exported to SBML, imported
back (generated Numba rate law), the same patients in the same process, alternating rounds.

    python -m benchmarks.bench_sbml [--n 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

import hybrid
from hybrid.catalog import get_model, sbml_reference
from hybrid.sbml import export_sbml


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        imported = get_model(sbml_reference(export_sbml(get_model("kimmel2021"), f"{d}/k.xml"), "B", "C", "N"))
        models = {"built-in": hybrid.get_model("kimmel2021"), "imported": imported}
        seeds = np.random.SeedSequence(7).spawn(args.n)
        rates: dict[str, list[float]] = {k: [] for k in models}
        for spec in models.values():  # warm-up (compile or load the kernels)
            hybrid.simulate_batch([hybrid.Parameters.from_preset(None, spec)] * 4, list(range(4)), model=spec)
        for _ in range(args.rounds):
            for name, spec in models.items():
                p = hybrid.Parameters.from_preset(None, spec)
                t = time.perf_counter()
                hybrid.simulate_batch([p] * args.n, seeds, model=spec, exact=False)
                rates[name].append(args.n / (time.perf_counter() - t))
    best = {k: max(v) for k, v in rates.items()}
    for k, v in best.items():
        print(f"{k}: {v:,.0f} patients/s (best of {args.rounds})")
    print(f"imported / built-in: {best['imported'] / best['built-in']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
