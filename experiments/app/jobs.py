"""Background jobs for front ends that must stay responsive (the web app): a cohort run on a thread, a fit in a
child process and a dosing grid or dose on a thread, each with its state, a slot of the server's job limit
(:class:`experiments.app.files.JobSlot`) and a result directory of its own; cohorts and fits can be cancelled (a
cancelled or failed run removes its directory whole)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from experiments.app.files import ENV_MAX_PATIENTS, JobSlot, limit
from experiments.cohort.runner import CohortResult, run_cohort
from experiments.cohort.spec import Spec
from experiments.dosing.spec import DoseSpec, DosingSpec
from experiments.execution import _worker_init, auto_chunk_size
from hybrid.errors import CartsimError


class _Cancelled(Exception):
    pass


class _ResultDir:
    """A job's result directory: :meth:`file` reads a finished run's file, :meth:`discard` removes it."""

    state: str
    dir: Path | None

    def file(self, name: str) -> Path | None:
        """A result file of a finished run (summary.json, a figure, ...), or None."""
        if self.state != "done" or self.dir is None:
            return None
        p = self.dir / name
        return p if p.exists() else None

    def discard(self) -> None:
        """Remove the result directory (the app calls this when a new run replaces this one)."""
        if self.dir is not None and self.state != "running":
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class _ThreadJob(_ResultDir):
    """A job run by :meth:`_run` on a thread of this process, holding a job slot and a fresh directory under
    ``area`` (``kind`` names both); subclasses define ``_run``."""

    kind: str
    area: Path | None

    def start(self):
        self._slot = JobSlot().acquire()
        if self.area is not None:
            (self.area / "jobs").mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"cartsim-{self.kind}-", dir=None if self.area is None
                                         else self.area / "jobs"))
        self.state = "running"
        self._thread = threading.Thread(target=self._run, name=f"cartsim-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> str:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state


class CohortJob(_ThreadJob):
    """A cohort run (:func:`experiments.cohort.run_cohort`) of a validated ``spec`` on threads of this process
    (no worker processes to orphan). :meth:`start` takes a job slot and writes into a fresh directory under
    ``area`` (default: the system's temporary folder). At most ``CARTSIM_APP_MAX_PATIENTS`` patients."""

    kind = "cohort"

    def __init__(self, spec: Spec, workers: int | None = None, area: str | Path | None = None):
        if spec.kind != "cohort":
            raise CartsimError(f"{spec.source}: kind = {spec.kind!r}; only cohort configs run here")
        cap = int(limit(ENV_MAX_PATIENTS))
        if spec.n > cap:
            raise CartsimError(f"{spec.source}: cohort.n: {spec.n:,} patients is over this server's limit of "
                               f"{cap:,} (cartsim app --max-patients); run larger cohorts with cartsim run")
        self.spec = spec
        self.workers = workers
        self.area = Path(area) if area is not None else None
        # the runner's own chunking: a chunk takes at most a second or two, so Cancel is honoured that soon
        self.chunk = auto_chunk_size(spec.n, workers or 2)
        self.n_chunks = -(-spec.n // self.chunk)
        self.done_chunks = 0
        self.state = "ready"  # ready | running | cancelling | done | cancelled | failed
        self.error: str | None = None
        self.result: CohortResult | None = None
        self.dir: Path | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def summary(self) -> dict[str, Any] | None:
        return None if self.result is None else self.result.summary

    @property
    def progress(self) -> float:
        """Fraction of chunks finished."""
        return self.done_chunks / self.n_chunks

    def cancel(self) -> None:
        """Stop after the chunks in progress (a second or two); the state is "cancelling" until their threads
        have finished, then "cancelled", and the run's directory is removed."""
        if self.state == "running":
            self.state = "cancelling"
        self._cancel.set()

    def _chunk_done(self, _k: int) -> None:
        self.done_chunks += 1
        if self._cancel.is_set():
            raise _Cancelled

    def _run(self) -> None:
        try:
            self.result = run_cohort(self.spec, self.dir, workers=self.workers, chunk_size=self.chunk,
                                     on_chunk=self._chunk_done, notes=lambda _msg: None)
            self.state = "cancelled" if self._cancel.is_set() else "done"
        except _Cancelled:
            self.state = "cancelled"
        except Exception as exc:  # shown to the user as one line; the traceback helps nobody at a browser
            self.state = "failed"
            self.error = str(exc) if isinstance(exc, CartsimError) else f"{type(exc).__name__}: {exc}"
        finally:
            self._slot.release()
        if self.state != "done" and self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None



def _fit_child(csv: str, out: str, parent: int) -> None:
    """The fit of :class:`FitJob`, in its own process: dies with the server (the workers' watchdog), writes
    fit.json and figures into ``out`` or the one-line error into ``out/error.txt``."""
    _worker_init(parent)
    os.environ.setdefault("MPLBACKEND", "Agg")
    from experiments.calibration import fit_csv

    try:
        fit_csv(csv, Path(out), workers=1)
    except CartsimError as exc:
        (Path(out) / "error.txt").write_text(str(exc))
    except Exception as exc:  # one line for the browser, as the command line prints
        (Path(out) / "error.txt").write_text(f"{type(exc).__name__}: {exc}")


class FitJob:
    """``cartsim fit`` of a dropped CSV (:func:`experiments.calibration.fit_csv`) in a child process, so that
    Cancel (and a server that stops) ends it at once, with everything it started."""

    def __init__(self, csv: str | Path, area: str | Path):
        self.csv = Path(csv)
        self.dir = Path(tempfile.mkdtemp(prefix="cartsim-fit-", dir=Path(area)))
        self._slot = JobSlot().acquire()
        self._proc = mp.get_context("spawn").Process(target=_fit_child, args=(str(self.csv), str(self.dir),
                                                                              os.getpid()), daemon=True)
        self._proc.start()
        self._cancelled = False

    @property
    def state(self) -> str:
        """running | done | failed | cancelled."""
        if self._cancelled:
            return "cancelled"
        if self._proc.is_alive():
            return "running"
        self._slot.release()
        if (self.dir / "fit.json").exists():
            return "done"
        return "failed"

    @property
    def error(self) -> str | None:
        f = self.dir / "error.txt"
        if f.exists():
            return f.read_text()
        return None if self.state != "failed" else f"the fit stopped (exit status {self._proc.exitcode})"

    @property
    def result(self) -> dict[str, Any] | None:
        f = self.dir / "fit.json"
        return json.loads(f.read_text()) if self.state == "done" else None

    def file(self, name: str) -> Path | None:
        p = self.dir / name
        return p if self.state == "done" and p.exists() else None

    def cancel(self) -> None:
        """Stop the fit now (its process and anything it started) and remove its directory."""
        if self._proc.is_alive():
            self._cancelled = True
            self._proc.terminate()
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
        self._slot.release()
        shutil.rmtree(self.dir, ignore_errors=True)

    def wait(self, timeout: float | None = None) -> str:
        self._proc.join(timeout)
        return self.state


class DosingJob(_ThreadJob):
    """A dosing grid (:func:`experiments.dosing.run_dosing`) or one patient's dose
    (:func:`experiments.dosing.run_dose`) of a validated spec, in a thread of this process on one worker (no
    worker processes to orphan), into a fresh directory under ``area``. States as :class:`CohortJob`'s (no
    cancel: the app keeps these small)."""

    kind = "dosing"

    def __init__(self, spec: DosingSpec | DoseSpec, area: str | Path | None = None):
        cap = int(limit(ENV_MAX_PATIENTS))
        n = spec.population.n * len(spec.doses) * len(spec.burdens) * len(spec.schedules) \
            if isinstance(spec, DosingSpec) else spec.draws * spec.grid_points * len(spec.schedules)
        if n > cap:
            raise CartsimError(f"{spec.source}: {n:,} patient-evaluations is over this server's limit of {cap:,} "
                               "(cartsim app --max-patients); run larger grids with cartsim run / cartsim dose")
        self.spec, self.area = spec, Path(area) if area is not None else None
        self.state = "ready"
        self.error: str | None = None
        self.result: dict[str, Any] | None = None
        self.dir: Path | None = None
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        from experiments.dosing import run_dose, run_dosing

        try:
            run = run_dosing if isinstance(self.spec, DosingSpec) else run_dose
            self.result = run(self.spec, self.dir, workers=1, notes=lambda _msg: None)
            self.state = "done"
        except Exception as exc:  # shown to the user as one line
            self.state = "failed"
            self.error = str(exc) if isinstance(exc, CartsimError) else f"{type(exc).__name__}: {exc}"
        finally:
            self._slot.release()
