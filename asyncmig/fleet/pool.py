"""Running many targets at once: a pool of long-lived worker processes.

Alembic's ``context`` and ``op`` are module-global proxies, so one process runs one
command at a time (:mod:`asyncmig.process_lock`); concurrency across targets needs
processes. Each of ``jobs`` workers runs targets one after another, keeping Alembic,
SQLAlchemy, the drivers and asyncmig imported: a target costs its migration, not a
Python start. Workers fork from a server that imported all that once
(``forkserver``; ``spawn`` where there is no fork). With ``jobs=1`` targets run in the
calling process and no worker is started.

Workers report starts, notices and steps on a queue; the :class:`Observer` hears
them, and each result, in the calling thread.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue as queue_module
import sys
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from ..errors import ExitCode, Interrupted, Terminated
from .results import TargetResult
from .worker import Job, init_worker, run_in_worker, run_target

#: What the worker server imports once, so every worker starts with it.
PRELOAD = [
    "asyncmig.fleet.worker",
    "asyncmig.commands",
    "asyncmig.runner",
    "alembic.command",
    "sqlalchemy.ext.asyncio",
]


class Observer(Protocol):
    """Hears a fleet run as it goes (the CLI's progress view)."""

    def started(self, name: str) -> None: ...

    def finished(self, result: TargetResult) -> None: ...

    def notice(self, name: str, message: str) -> None: ...


class SilentObserver:
    def started(self, name: str) -> None:
        pass

    def finished(self, result: TargetResult) -> None:
        pass

    def notice(self, name: str, message: str) -> None:
        pass


class _ObserverEvents:
    """In-process events (``jobs=1``): notices go to the observer as a worker's would."""

    def __init__(self, observer: Observer, name: str) -> None:
        self.observer, self.name = observer, name

    def notice(self, message: str) -> None:
        self.observer.notice(self.name, message)

    def step(self, step: Any, index: int, total: int | None) -> None:
        pass


def _stops(result: TargetResult) -> bool:
    """Whether ``--fail-fast`` stops the fleet at this result (pending work does not)."""
    return result.exit_code not in (ExitCode.OK, ExitCode.PENDING)


def _skipped(job: Job) -> TargetResult:
    target = job.target
    return TargetResult(
        name=target.name,
        command=job.command,
        url=target.masked_url,
        schema=target.schema,
        skipped=True,
    )


def run_jobs(
    jobs: Sequence[Job], *, workers: int, fail_fast: bool = False, observer: Observer | None = None
) -> list[TargetResult]:
    """Every job's result, in the order of ``jobs``."""
    observer = observer or SilentObserver()
    if workers <= 1 or len(jobs) <= 1:
        return _run_here(jobs, fail_fast, observer)
    return _run_pool(jobs, min(workers, len(jobs)), fail_fast, observer)


def _run_here(jobs: Sequence[Job], fail_fast: bool, observer: Observer) -> list[TargetResult]:
    results: list[TargetResult] = []
    stopped = False
    for job in jobs:
        if stopped:
            results.append(_skipped(job))
            continue
        observer.started(job.target.name)
        result = run_target(job, _ObserverEvents(observer, job.target.name))
        # Ctrl-C or SIGTERM stops the fleet here, as it stops a single command.
        if result.exit_code == ExitCode.INTERRUPTED:
            raise Interrupted(result.error or "interrupted")
        if result.exit_code == ExitCode.TERMINATED:
            raise Terminated(result.error or "terminated")
        results.append(result)
        observer.finished(result)
        stopped = fail_fast and _stops(result)
    return results


def _context() -> Any:
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def _run_pool(
    jobs: Sequence[Job], workers: int, fail_fast: bool, observer: Observer
) -> list[TargetResult]:
    context = _context()
    reports = context.Queue()
    results: list[TargetResult | None] = [None] * len(jobs)
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=init_worker, initargs=(reports,)
    )
    try:
        futures: dict[Future[TargetResult], int] = {
            pool.submit(run_in_worker, job): i for i, job in enumerate(jobs)
        }
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, timeout=0.1, return_when=FIRST_COMPLETED)
            _drain(reports, observer)
            for future in done:
                if future.cancelled():
                    continue
                index = futures[future]
                result = _outcome(future, jobs[index])
                results[index] = result
                observer.finished(result)
                if fail_fast and _stops(result):
                    for other in waiting:
                        other.cancel()
        _drain(reports, observer)
    except KeyboardInterrupt as stop:
        from ..failures import TerminateSignal

        if isinstance(stop, TerminateSignal):
            # SIGTERM reached only this process (Kubernetes, docker stop): workers stop as
            # on Ctrl-C, rolling back the target each is migrating, before we exit 143.
            _interrupt(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):
            reports.close()
            reports.join_thread()
    return [result or _skipped(job) for result, job in zip(results, jobs, strict=True)]


def _interrupt(pool: ProcessPoolExecutor) -> None:
    import os
    import signal

    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGINT)


def _outcome(future: Future[TargetResult], job: Job) -> TargetResult:
    """The worker's result, or a failure when the worker itself died."""
    error = future.exception()
    if error is None:
        return future.result()
    skipped = _skipped(job)
    from dataclasses import replace

    return replace(
        skipped,
        skipped=False,
        error=f"the worker process failed: {type(error).__name__}: {error}",
        error_code="failed",
        exit_code=int(ExitCode.FAILED),
    )


def _drain(reports: Any, observer: Observer) -> None:
    while True:
        try:
            kind, name, payload = reports.get_nowait()
        except queue_module.Empty:
            return
        except (OSError, ValueError, EOFError):
            return
        if kind == "start":
            observer.started(name)
        elif kind == "notice":
            observer.notice(name, str(payload))
