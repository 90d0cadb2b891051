"""``--ray [ADDRESS]``: the videos of ``pympas label`` and ``pympas segment`` as Ray tasks, one
per video, on a local Ray instance or a Ray cluster (optional extra ``pympas[ray]``).

Ray is another executor for the same per-video functions the commands run one by one or in
their process pool (``pympas.cli.label._label_one``, ``pympas.cli.segment._segment_one``): the
same atomic writes, the same skip-if-complete resume, the same results and summary. Each task
returns a small tuple; the frames and masks never leave the node that reads and writes them, so
the output folder must be on storage that every node sees (NFS, a cluster file system, a
mounted bucket): the command checks that it can write there before anything is submitted.

``ray`` is imported here, inside functions, and only when ``--ray`` is given: ``import pympas``
and the commands without ``--ray`` never import it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MISSING_RAY", "RayOptions", "add_ray_options", "ray_options", "run_on_ray"]

#: what to install when ray is missing
MISSING_RAY = "--ray needs Ray, which is not installed: pip install 'pympas[ray]'"
#: retries of a task whose worker process or node died (Ray's own default for tasks)
MAX_RETRIES = 3


class RayOptions:
    """Where the tasks run: ``address`` (``"local"``: a new local Ray instance; else a cluster
    address as :func:`ray.init` takes it: ``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``) and
    the resources each task asks for."""

    def __init__(self, address: str, cpus: float, gpus: float) -> None:
        self.address, self.cpus, self.gpus = address, cpus, gpus


def add_ray_options(parser: argparse.ArgumentParser, what: str, gpus: float = 0.0) -> None:
    """``--ray [ADDRESS]``, ``--ray-cpus-per-task``, ``--ray-gpus-per-task`` on ``parser``."""
    parser.add_argument(
        "--ray", nargs="?", const="local", metavar="ADDRESS",
        help=f"{what} as Ray tasks, one per video: on a new local Ray instance, or on the Ray "
        "cluster at ADDRESS (HOST:PORT, ray://HOST:PORT, auto); OUT must be on storage every "
        "node sees (needs pip install 'pympas[ray]')",
    )  # fmt: skip
    parser.add_argument(
        "--ray-cpus-per-task", type=float, default=1.0, metavar="C",
        help="CPUs each Ray task asks for (default %(default)g)",
    )  # fmt: skip
    parser.add_argument(
        "--ray-gpus-per-task", type=float, default=gpus, metavar="G",
        help="GPUs each Ray task asks for, fractions share a GPU (e.g. 0.25) (default %(default)g)",
    )  # fmt: skip


def ray_options(args: argparse.Namespace) -> RayOptions | None:
    """The Ray options given on the command line, None without ``--ray``.

    Raises:
        ValueError: naming the option that is out of range.
        ImportError: ray is not installed (the message says what to install).
        ConnectionError: nothing answers at the address given.
    """
    if args.ray is None:
        return None
    if not args.ray_cpus_per_task >= 0:
        raise ValueError(f"--ray-cpus-per-task must be >= 0, got {args.ray_cpus_per_task:g}")
    if not args.ray_gpus_per_task >= 0:
        raise ValueError(f"--ray-gpus-per-task must be >= 0, got {args.ray_gpus_per_task:g}")
    if importlib.util.find_spec("ray") is None:  # checked without importing it
        raise ImportError(MISSING_RAY)
    if args.ray != "local":
        _check_reachable(args.ray)
    return RayOptions(args.ray, args.ray_cpus_per_task, args.ray_gpus_per_task)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(MISSING_RAY) from exc
    return ray


def _package_root() -> str:
    """The folder that holds the ``pympas`` package imported here (a checkout or
    site-packages)."""
    import pympas

    return str(Path(pympas.__file__).resolve().parent.parent)


@contextlib.contextmanager
def in_package_root() -> Iterator[None]:
    """Run ``ray.init`` from the folder that holds the imported ``pympas``.

    ``ray.init`` puts the driver's working directory in front of its workers' ``sys.path``. Run
    from a source checkout (as CI runs the tests) that directory holds the uncompiled ``pympas``
    source tree, which would shadow the installed package in every worker; from the package's
    own folder the workers import the ``pympas`` this process imported.
    """
    before = os.getcwd()
    os.chdir(_package_root())
    try:
        yield
    finally:
        os.chdir(before)


def connect(address: str) -> bool:
    """Connect to Ray; True if this call started it (and must shut it down).

    An instance already started in this process (``ray.init`` by the caller) is used as it is.
    ``ray.init`` runs :func:`in_package_root`. A new local instance passes this process's
    ``PYTHONPATH``, with the folder this ``pympas`` was imported from in front, to its workers,
    so that they import the same ``pympas`` (and its compiled extension) also from a checkout;
    on a cluster every node must have pympas installed.

    Raises:
        ImportError: ray is missing (the message says what to install).
        ConnectionError: no Ray cluster at ``address``.
    """
    ray = _import_ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address == "local":
        kwargs["include_dashboard"] = False
        path = os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")]))
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    try:
        with in_package_root():
            ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise ConnectionError(f"--ray {address}: cannot connect to a Ray cluster ({exc})") from exc
    finally:
        if main:  # ray.init replaces it with sys.exit: SIGTERM stops the command cleanly again
            signal.signal(signal.SIGTERM, sigterm)
    return True


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """ConnectionError naming ``address`` (``HOST:PORT`` or ``ray://HOST:PORT``) if nothing
    accepts a connection there: ray.init would retry for minutes before it gives up."""
    import socket

    match = re.fullmatch(r"(?:ray://)?\[?([^\[\]]+?)\]?:(\d+)/?", address)
    if match is None:  # "auto" and what else ray.init takes: left to it
        return
    try:
        socket.create_connection((match.group(1), int(match.group(2))), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(
            f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc})"
        ) from exc


def _absolute(path: str) -> str:
    """A file or folder as an absolute path (cluster nodes do not share the driver's working
    directory); a stream URL or camera index as it is."""
    from pympas.video import is_stream

    return path if is_stream(path) else str(Path(path).absolute())


def run_on_ray(
    func: Callable[..., tuple],
    jobs: Sequence[tuple],
    options: RayOptions,
    overall: Any,
    failed: Callable[[tuple, str], tuple],
    on_result: Callable[[tuple], None] | None = None,
) -> list[tuple]:
    """``func(*job)`` for every job as one Ray task each; the results in job order.

    A job is (source, output folder, ...) and a result (source as shown, status, ...), as for
    ``_label_one`` and ``_segment_one``: the tasks get both paths absolute, and a result shows
    its source as the job gave it. ``func`` must be a module-level function (Ray workers import
    it by name) that returns a result rather than raising for a bad video. ``overall`` (a
    progress bar) is advanced and ``on_result`` called as each task ends. A task whose worker
    died even after Ray's :data:`MAX_RETRIES` retries, or that raised, gets
    ``failed(job, message)`` as its result. Ctrl-C or SIGTERM cancels the tasks (each unwinds,
    removing its temporary folder; a set that completes meanwhile is kept; a task still running
    after 10 s is killed, its temporary left for the next run to remove) and is raised again.
    """
    ray = _import_ray()
    started = connect(options.address)
    try:
        task = ray.remote(func).options(
            num_cpus=options.cpus, num_gpus=options.gpus, max_retries=MAX_RETRIES
        )
        sent = [(_absolute(job[0]), _absolute(job[1]), *job[2:]) for job in jobs]
        refs = [task.remote(*job) for job in sent]
        index = {ref: i for i, ref in enumerate(refs)}
        results: dict[int, tuple] = {}
        pending = list(refs)
        try:
            while pending:
                # short waits: Python runs its signal handlers (Ctrl-C, SIGTERM) in between
                done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
                for ref in done:
                    i = index[ref]
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # the worker died, or func raised
                        result = failed(sent[i], _task_error(exc))
                    if result[0] == sent[i][0]:
                        result = (jobs[i][0], *result[1:])
                    results[i] = result
                    if on_result is not None:
                        on_result(result)
                    overall.update()
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref)  # a KeyboardInterrupt inside the task: writers clean up
            _, late = ray.wait(pending, num_returns=len(pending), timeout=10)
            for ref in late:  # killed: its temporary folder is removed by the next run
                ray.cancel(ref, force=True)
            raise
        return [results[i] for i in range(len(jobs))]
    finally:
        if started:
            ray.shutdown()


def _task_error(exc: Exception) -> str:
    """One line for a task that ended without a result."""
    ray = _import_ray()
    if isinstance(exc, ray.exceptions.RayTaskError):  # func raised: its own error, one line
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1]}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (
        f"the Ray worker processing it died, also after {MAX_RETRIES} retries "
        f"({type(exc).__name__}: {first}); nothing was written"
    )
