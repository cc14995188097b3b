"""Running an experiment's runs on a backend, each record stored as soon as it finishes.

Backends
--------
``local``
    A pool of worker processes on this machine (``spawn`` start method, so no solver or
    thread state is inherited from the caller); ``workers=1`` runs everything in the
    calling process.
``ray``
    Ray tasks, one CPU each, on a local Ray instance started for the sweep (``workers``
    CPUs) or on a running cluster (``ray_address``); Ray must be installed
    (``pip install "edgebound[cluster]"``) and so must edgebound, on every node. If Ray is
    already initialized in the calling process, that instance is used and left running.

A run's record does not depend on the backend, the number of workers or the order the runs
finish in; only its ``meta`` field does (see :mod:`edgebound.bench.store`). A run that
raises is recorded with ``status: error`` and the error's type and message, and counts as
finished: a resumed sweep does not retry it. Runs that stop on a time limit are the
exception to backend independence: what a solver reaches in a given time depends on the
machine's speed and load.

Examples
--------
>>> import tempfile, pathlib
>>> from edgebound.bench import loads_experiment
>>> exp = loads_experiment('''
... instances: [gentzen-star4]
... seeds: 2
... methods: [{method: simulate, params: {arrivals: 2000, policy: never}}]
... ''')
>>> out = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> report = run_experiment(exp, out, workers=1)
>>> report.completed, report.failed, report.skipped
(2, 0, 0)
>>> run_experiment(exp, out, workers=1, resume=True).skipped
2
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgebound.bench.experiment import Experiment, Run
from edgebound.bench.methods import method
from edgebound.bench.store import ResultStore, StoreError, jsonable, read_records
from edgebound.errors import EdgeboundError
from edgebound.instances import Instance, loads

__all__ = ["BACKENDS", "BenchError", "BenchReport", "execute", "run_experiment"]

BACKENDS = ("local", "ray")

Progress = Callable[[int, int, "dict[str, Any] | None"], None]


class BenchError(EdgeboundError):
    """A sweep cannot run as asked: unknown backend, Ray missing, a worker process died."""


@dataclass(frozen=True)
class BenchReport:
    """What a call of :func:`run_experiment` did.

    Attributes
    ----------
    path : Path
        The result file.
    total : int
        Runs in the experiment.
    skipped : int
        Runs already in the result file (resume), not run again.
    completed : int
        Runs finished and stored by this call.
    failed : int
        Of those, runs recorded with ``status: error``.
    backend : str
    workers : int
    wall_s : float
    """

    path: Path
    total: int
    skipped: int
    completed: int
    failed: int
    backend: str
    workers: int
    wall_s: float


# --------------------------------------------------------------------------- one run

_INSTANCES: dict[str, Instance] = {}
_TEXTS: dict[str, str] = {}


def _instance(digest: str, text: str) -> Instance:
    # Parsed once per process: a worker runs many runs of the same few instances.
    if digest not in _INSTANCES:
        _INSTANCES[digest] = loads(text, source="experiment instance")
    return _INSTANCES[digest]


def execute(
    run: Mapping[str, Any], instance_text: str, *, backend: str = "local"
) -> dict[str, Any]:
    """Run one run and return its record; errors are recorded, not raised.

    Parameters
    ----------
    run : mapping
        A run's identity, :meth:`Run.to_dict`.
    instance_text : str
        The instance's canonical JSON (:attr:`Experiment.instances`).
    backend : str
        Recorded in ``meta``.

    Returns
    -------
    dict
        The run's identity, ``status`` (``ok`` or ``error``), ``result`` (the method's
        record as strict JSON data) or ``error`` (``type`` and ``message``), and ``meta``.

    Examples
    --------
    >>> from edgebound.bench import loads_experiment
    >>> exp = loads_experiment("instances: [gentzen-star4]\\nmethods: [{method: bound}]")
    >>> run = exp.runs[0]
    >>> rec = execute(run.to_dict(), exp.instances[run.instance_hash])
    >>> rec["status"], rec["result"]["status"], sorted(rec["meta"])[:2]
    ('ok', 'optimal', ['backend', 'edgebound'])
    """
    from edgebound import __version__

    t0 = time.perf_counter()
    ident = ("key", "instance", "instance_hash", "method", "params", "seed")
    record: dict[str, Any] = {k: run[k] for k in ident}
    meta: dict[str, Any] = {}
    try:
        inst = _instance(str(run["instance_hash"]), instance_text)
        m = method(str(run["method"]))
        result = m.func(inst, dict(run["params"]), run["seed"])
        if not isinstance(result, Mapping):
            raise BenchError(
                f"method {m.name!r} returned {type(result).__name__}; a method returns a dict"
            )
        record |= {"status": "ok", "result": jsonable(result), "error": None}
    except Exception as exc:
        error = {"type": type(exc).__name__, "message": str(exc)}
        record |= {"status": "error", "result": None, "error": error}
        if not isinstance(exc, EdgeboundError):
            meta["traceback"] = traceback.format_exc()
    meta |= {
        "wall_s": time.perf_counter() - t0,
        "backend": backend,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "finished_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "edgebound": __version__,
    }
    return record | {"meta": meta}


def _init_worker(texts: dict[str, str]) -> None:
    # Ctrl-C is the driver's to handle; it stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _TEXTS.update(texts)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    # A killed driver cannot stop its workers, and they would wait for tasks forever (each
    # holds both ends of its task queue): they end themselves when the driver is gone.
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _pool_task(run: dict[str, Any]) -> dict[str, Any]:
    return execute(run, _TEXTS[run["instance_hash"]], backend="local")


def _ray_task(run: dict[str, Any], text: str) -> dict[str, Any]:
    return execute(run, text, backend="ray")


# --------------------------------------------------------------------------- backends


def _run_local(
    todo: list[Run], texts: dict[str, str], workers: int, sink: Callable[[dict[str, Any]], None]
) -> None:
    if workers == 1:
        for run in todo:
            sink(execute(run.to_dict(), texts[run.instance_hash]))
        return
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(texts,)
    )
    queue = iter(todo)
    pending: dict[cf.Future[dict[str, Any]], Run] = {}

    def submit(n: int) -> None:
        for run in _take(queue, n):
            pending[pool.submit(_pool_task, run.to_dict())] = run

    try:
        submit(2 * workers)
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                run = pending.pop(fut)
                try:
                    sink(fut.result())
                except cf.process.BrokenProcessPool:
                    raise BenchError(
                        f"a worker process stopped while running {run.method} on "
                        f"{run.instance} (key {run.key}): out of memory, a crash in a solver, "
                        "or a main script the workers cannot import (run scripts from a file "
                        "with an `if __name__ == '__main__':` guard, or use workers=1); the "
                        "runs finished so far are saved"
                    ) from None
            submit(len(done))
        pool.shutdown()
    except BaseException:
        # Runs in progress are abandoned: stop their processes rather than wait for them
        # (the executor has no public way to do that before Python 3.14).
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for proc in processes:
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def _take(it: Iterator[Run], n: int) -> list[Run]:
    out = []
    for _ in range(n):
        run = next(it, None)
        if run is None:
            break
        out.append(run)
    return out


def _run_ray(
    todo: list[Run],
    texts: dict[str, str],
    workers: int | None,
    address: str | None,
    sink: Callable[[dict[str, Any]], None],
) -> int:
    try:
        import ray
    except ImportError:
        raise BenchError(
            "backend 'ray' needs Ray, which is not installed: pip install 'edgebound[cluster]'"
        ) from None
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR"}
        if address is not None:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **options)
    pending: dict[Any, Run] = {}
    try:
        slots = workers or int(ray.cluster_resources().get("CPU", 1))
        refs = {h: ray.put(t) for h, t in texts.items()}
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        queue = iter(todo)

        def submit(n: int) -> None:
            for run in _take(queue, n):
                pending[task.remote(run.to_dict(), refs[run.instance_hash])] = run

        submit(2 * slots)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                run = pending.pop(ref)
                try:
                    sink(ray.get(ref))
                except ray.exceptions.RayError as exc:
                    raise BenchError(
                        f"Ray lost the run of {run.method} on {run.instance} (key {run.key}): "
                        f"{type(exc).__name__}; the runs finished so far are saved"
                    ) from None
            submit(len(done))
        return slots
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------- the sweep


def run_experiment(
    experiment: Experiment,
    output: str | Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    ray_address: str | None = None,
) -> BenchReport:
    """Run every run of an experiment not yet in the result file, storing each as it ends.

    Parameters
    ----------
    experiment : Experiment
        From :func:`~edgebound.bench.load_experiment`.
    output : str or Path
        The JSON-lines result file.
    backend : {"local", "ray"}
    workers : int, optional
        Processes (local) or CPUs of the local Ray instance; default: the CPUs of this
        machine (local, at most one per run) or of the Ray cluster.
    resume : bool
        Continue a result file: runs already in it are skipped. Without it an existing,
        non-empty result file is an error, so that two sweeps never mix by accident.
    progress : callable, optional
        ``progress(done, total, record)``: once before the first run (``record`` None,
        ``done`` the skipped runs) and after each finished run.
    ray_address : str, optional
        Address of a running Ray cluster (``backend="ray"`` only).

    Returns
    -------
    BenchReport

    Raises
    ------
    BenchError
        On an unknown backend or worker count, Ray missing, or a worker process that died.
    StoreError
        If the result file exists without ``resume``, or cannot be read or written.
    KeyboardInterrupt
        Passed on after the workers are stopped; the finished runs are stored.

    Examples
    --------
    >>> from edgebound.bench import loads_experiment
    >>> exp = loads_experiment("instances: [gentzen-star4]\\nmethods: [{method: solve}]")
    >>> run_experiment(exp, "unused.jsonl", backend="dask")
    Traceback (most recent call last):
    ...
    edgebound.bench.runner.BenchError: backend: 'dask' must be one of local, ray
    """
    t0 = time.perf_counter()
    if backend not in BACKENDS:
        raise BenchError(f"backend: {backend!r} must be one of {', '.join(BACKENDS)}")
    if workers is not None and workers < 1:
        raise BenchError(f"workers: {workers!r} must be >= 1")
    if ray_address is not None and backend != "ray":
        raise BenchError("ray_address: only for backend 'ray'")
    store = ResultStore(output)
    existing = read_records(store.path)
    if existing and not resume:
        raise StoreError(
            f"{store.path}: already holds {len(existing)} results; resume it (--resume) or "
            "choose another output file"
        )
    finished = {str(r["key"]) for r in existing}
    todo = [r for r in experiment.runs if r.key not in finished]
    total = len(experiment.runs)
    skipped = total - len(todo)
    counts = {"completed": 0, "failed": 0}

    def sink(record: dict[str, Any]) -> None:
        store.append(record)
        counts["completed"] += 1
        counts["failed"] += record["status"] != "ok"
        if progress is not None:
            progress(skipped + counts["completed"], total, record)

    if progress is not None:
        progress(skipped, total, None)
    used = workers
    with store:
        if todo and backend == "local":
            used = min(workers or os.cpu_count() or 1, len(todo))
            _run_local(todo, experiment.instances, used, sink)
        elif todo:
            used = _run_ray(todo, experiment.instances, workers, ray_address, sink)
    return BenchReport(
        path=store.path,
        total=total,
        skipped=skipped,
        completed=counts["completed"],
        failed=counts["failed"],
        backend=backend,
        workers=used or 0,
        wall_s=time.perf_counter() - t0,
    )
