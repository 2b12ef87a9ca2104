"""Execution backends: in-process, a local process pool (default) or Dask (an existing scheduler or a
LocalCluster). All run module-level functions of picklable arguments; results never depend on the backend
because every random stream is fixed per patient before any task is sent.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from hybrid.errors import CartsimError

LOCAL_DASK = "local-dask"
PARENT_POLL_SECONDS = 0.5
"""How often a worker checks that the process that started it is still alive."""


def auto_chunk_size(n: int, workers: int, minimum: int = 25) -> int:
    """The one chunk policy: about eight chunks per worker, so that work spreads over the workers, progress
    shows and a cancel is honoured within a second or two; at least ``minimum`` items (a task's overhead is
    amortised) and at most 2000 (memory stays flat). Results never depend on it: every patient's random streams
    are fixed by its id."""
    return int(min(max(2000, minimum), max(minimum, math.ceil(n / (8 * workers)))))


def chunk_bounds(n: int, workers: int, minimum: int = 25) -> list[tuple[int, int]]:
    """``[start, stop)`` of each chunk of ``n`` items under :func:`auto_chunk_size`."""
    size = auto_chunk_size(n, workers, minimum)
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Backend:
    """A context manager that maps functions over tasks. ``scheduler``: None (local processes),
    ``"local-dask"`` (start a Dask LocalCluster) or ``"tcp://HOST:PORT"`` (an existing Dask scheduler)."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None, threads: bool = False):
        """``threads``: run tasks on threads of this process instead of worker processes (for functions
        whose work is a Numba kernel that releases the GIL: one copy of the kernels in memory, no start-up per
        worker); a Dask LocalCluster then runs its workers as threads of this process too."""
        if workers is not None and workers < 1:
            raise CartsimError(f"--workers must be >= 1, got {workers}")
        if scheduler is not None and scheduler != LOCAL_DASK and "://" not in scheduler:
            raise CartsimError(f"--scheduler {scheduler!r}: accepted: {LOCAL_DASK} or tcp://HOST:PORT")
        self.workers = workers or default_workers()
        self.scheduler = scheduler
        self.threads = threads and (scheduler is None or scheduler == LOCAL_DASK)
        self._pool = None
        self._client = None
        self._cluster = None

    @property
    def name(self) -> str:
        if self.scheduler == LOCAL_DASK:
            return f"dask LocalCluster ({self.workers} workers)"
        if self.scheduler:
            return f"dask {self.scheduler}"
        if self.workers == 1:
            return "in-process"
        return f"threads ({self.workers})" if self.threads else f"local processes ({self.workers})"

    def __enter__(self) -> Backend:
        if self.scheduler is not None:
            try:
                from distributed import Client, LocalCluster
            except ImportError:  # pragma: no cover - a declared dependency
                raise CartsimError("--scheduler needs the 'distributed' package") from None
            if self.scheduler == LOCAL_DASK:
                import logging

                if self.threads:
                    self._cluster = LocalCluster(n_workers=1, threads_per_worker=self.workers, processes=False,
                                                 dashboard_address=None, silence_logs=logging.ERROR)
                else:
                    self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                 dashboard_address=None, silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
            else:
                try:
                    self._client = Client(self.scheduler, timeout="20s")
                except OSError as exc:
                    raise CartsimError(f"--scheduler {self.scheduler}: cannot connect: {exc}") from None
                self.workers = max(1, sum(self._client.nthreads().values()))
        elif self.workers > 1 and self.threads:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="cartsim")
        elif self.workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: the parent may hold threads (tqdm, numba) that fork would copy half-way
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_worker_init, initargs=(os.getpid(),))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(abort=exc_type is not None)

    def close(self, abort: bool = False) -> None:
        if self._pool is not None:
            if abort:
                # a dead run should not wait for chunks nobody will write
                for proc in list(getattr(self._pool, "_processes", {}).values()):
                    proc.terminate()
            # threads cannot be stopped: wait for the chunks already running (queued ones are cancelled), so
            # that nothing outlives the run that said it stopped
            self._pool.shutdown(wait=not abort or self.threads, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def unordered(self, fn: Callable[..., Any], tasks: Sequence[tuple], max_in_flight: int | None = None
                  ) -> Iterator[tuple[int, Any]]:
        """Yield ``(k, fn(*tasks[k]))`` as tasks finish, keeping at most ``max_in_flight`` submitted so that
        memory stays flat however many tasks there are."""
        limit = max_in_flight or 2 * self.workers
        if self._pool is None and self._client is None:
            for k, t in enumerate(tasks):
                yield k, fn(*t)
            return
        if self._client is not None:
            from distributed import as_completed

            it = iter(enumerate(tasks))
            keys: dict[Any, int] = {}

            def submit(k: int, t: tuple):
                f = self._client.submit(fn, *t, pure=False)
                keys[f.key] = k
                return f

            first = [submit(k, t) for k, t in _take(it, limit)]
            ac = as_completed(first)
            for f in ac:
                k = keys.pop(f.key)
                res = f.result()
                f.release()
                for k2, t2 in _take(it, 1):
                    ac.add(submit(k2, t2))
                yield k, res
            return
        from concurrent.futures import FIRST_COMPLETED, wait

        it = iter(enumerate(tasks))
        pending = {self._pool.submit(fn, *t): k for k, t in _take(it, limit)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                k = pending.pop(f)
                res = f.result()
                for k2, t2 in _take(it, 1):
                    pending[self._pool.submit(fn, *t2)] = k2
                yield k, res

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(x) for x in items]`` in input order on this backend (the ``map_fn`` given to ABM runs)."""
        items = list(items)
        out: list[Any] = [None] * len(items)
        for k, res in self.unordered(fn, [(x,) for x in items]):
            out[k] = res
        return out


def _worker_init(parent: int) -> None:
    """Workers leave Ctrl-C to the parent, which stops them after keeping the finished chunks; and they die
    with the parent: if it is killed outright (SIGKILL, OOM killer), nobody else would stop them."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            if os.getppid() != parent:  # re-parented: the parent is gone
                os._exit(1)
            time.sleep(PARENT_POLL_SECONDS)

    threading.Thread(target=watch, name="cartsim-parent-watch", daemon=True).start()


def _take(it: Iterator, n: int) -> list:
    out = []
    for _ in range(n):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out
