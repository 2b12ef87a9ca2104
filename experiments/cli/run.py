"""``cartsim run CONFIG.toml``: validate a config, then run its experiment on the chosen backend."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from experiments.cohort.spec import check_overrides, load, validate
from experiments.execution import LOCAL_DASK
from experiments.outputs import check_out_dir
from hybrid.errors import CartsimError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    p = sub.add_parser(
        "run",
        help="run an experiment config (cohort, sweep, sensitivity, dosing or ABM)",
        description="Run the experiment described by CONFIG.toml; outputs go to --out (default "
                    "results/<config stem>). Shipped configs are in experiments/configs/.",
    )
    p.add_argument("config", help="experiment config (TOML)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (TOML syntax), e.g. --set cohort.n=300; repeatable")
    p.add_argument("--out", type=Path, default=None, help="output directory (default results/<config stem>)")
    p.add_argument("--workers", type=int, default=None,
                   help="local workers: threads for cohorts, processes for spatial runs (default: all cores)")
    p.add_argument("--scheduler", default=None,
                   help=f"Dask: '{LOCAL_DASK}' starts a LocalCluster, tcp://HOST:PORT joins a running one")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="patients per chunk (default: from the config, else automatic; results do not depend "
                        "on it)")
    p.add_argument("--resume", action="store_true", help="keep the finished chunks of an interrupted run")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a directory that holds files no cartsim run claims, replacing cartsim outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar or final report")
    p.set_defaults(handler=main)


class Terminated(KeyboardInterrupt):
    """SIGTERM: unwinds like Ctrl-C (finished chunks stay), exits 143 as the convention says."""


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a batch system's stop) unwinds like Ctrl-C, so finished chunks stay for --resume."""
    def handler(signum, frame):
        raise Terminated

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_config(config: str | Path, overrides: list[str] | tuple[str, ...] = (), out: Path | None = None,
               workers: int | None = None, scheduler: str | None = None, chunk_size: int | None = None,
               resume: bool = False, quiet: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """``cartsim run``: validate a config file with the ``--set`` settings, then run it through its job's entry
    point (:func:`experiments.cohort.run_cohort`, :func:`~experiments.cohort.sensitivity.run_sensitivity`,
    :func:`~experiments.spatial.experiment.run_spatial`, :func:`~experiments.dosing.run_dosing`); returns the
    summary (also in OUT/summary.json)."""

    cfg, source = load(config, overrides)
    if chunk_size is not None and chunk_size < 1:
        raise CartsimError(f"--chunk-size must be >= 1, got {chunk_size}")
    out = check_out_dir(Path(out) if out is not None else Path("results") / Path(config).stem)
    kind = cfg.get("kind", "cohort")
    if kind in ("fit", "predict", "dose"):
        raise CartsimError(f"{source}: kind = {kind!r}: run this config with cartsim {kind}")
    with _sigterm_as_interrupt():
        if kind == "dosing":
            from experiments.dosing import run_dosing, validate_dosing

            spec = validate_dosing(cfg, source)
            check_overrides(cfg, overrides, source)
            return run_dosing(spec, out, workers=workers, resume=resume, overwrite=overwrite, quiet=quiet)
        if kind == "abm":
            from experiments.spatial.experiment import run_spatial, validate_abm

            spec = validate_abm(cfg, source)
            check_overrides(cfg, overrides, source)
            return run_spatial(spec, out, workers=workers, scheduler=scheduler, overwrite=overwrite, quiet=quiet)
        spec = validate(cfg, source)
        check_overrides(cfg, overrides, source)
        if spec.kind == "cohort":
            from experiments.cohort.runner import run_cohort

            return run_cohort(spec, out, workers=workers, scheduler=scheduler, resume=resume, overwrite=overwrite,
                              chunk_size=chunk_size, progress=not quiet).summary
        from experiments.cohort.sensitivity import run_sensitivity

        return run_sensitivity(spec, out, workers=workers, scheduler=scheduler, overwrite=overwrite)


def main(args: argparse.Namespace) -> int:
    """Handler of ``cartsim run``."""
    out = args.out if args.out is not None else Path("results") / Path(args.config).stem
    summary = run_config(args.config, args.overrides, out, args.workers, args.scheduler, args.chunk_size,
                         args.resume, args.quiet, overwrite=args.overwrite)
    if not args.quiet:
        head = _headline(summary)
        if head:
            print(json.dumps(head, indent=1, default=str))
        files = sorted(p.name for p in Path(out).iterdir() if p.is_file() and not p.name.startswith("."))
        figures = [f for f in files if f.endswith(".png")]
        print(f"cartsim run: wrote {out}/: {', '.join(f for f in files if f not in figures)}", file=sys.stderr)
        if figures:
            print(f"cartsim run: figures: {', '.join(str(Path(out) / f) for f in figures)}", file=sys.stderr)
    return 0


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The few numbers worth printing: P(cure) and PFS overall and per group, or the sensitivity ranking."""
    if "ranking" in summary:
        return {"ranking": summary["ranking"]}
    out: dict[str, Any] = {}

    def brief(s: dict[str, Any]) -> dict[str, Any]:
        b: dict[str, Any] = {"n": s.get("n")}
        if "p_cure" in s:
            pc = s["p_cure"]
            b["p_cure"] = f"{pc['estimate']:.3f} [{pc['low']:.3f}, {pc['high']:.3f}]"
        if "p_cure_exact_mean" in s:
            b["p_cure_exact_mean"] = round(s["p_cure_exact_mean"], 4)
        for k, v in s.get("pfs", {}).items():
            b[f"pfs_{k}"] = f"{v['pfs']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"
        return b

    if "overall" in summary:
        out["overall"] = brief(summary["overall"])
        for g, s in summary.get("groups", {}).items():
            out[g] = brief(s)
    er = summary.get("exposure_response")
    if er:
        for name, m in er["metrics"].items():
            r = m["ratio_responders_to_non_responders"]
            if r["estimate"] is not None:
                out[f"{name}_responders_vs_non"] = f"{r['estimate']:.2f} [{r['low']:.2f}, {r['high']:.2f}]"
    return out
