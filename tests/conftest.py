"""Fixtures shared by the test modules; helper functions live in the ``helpers`` package.

``device`` runs a test once on ``"cpu"`` and once on ``"cuda"``; the cuda run carries the ``cuda``
mark (``pytest -m cuda`` selects every GPU test) and is skipped, naming the reason, where torch,
``pympas._cuda`` or a CUDA device is missing. Compare its results with ``helpers.devices.to_numpy``.
"""

from __future__ import annotations

import signal

import pytest
from helpers.devices import DEVICES, cuda_unavailable_reason
from helpers.disks import mount_small_disk, unmount
from helpers.labelsets import write_labelset


def pytest_configure(config) -> None:
    """Give the tests Ctrl-C as a terminal gives it. A shell that runs a job in the background
    (``nohup``, ``cmd &`` in a script, some CI runners) starts it with SIGINT ignored, children
    inherit that, and the tests that send Ctrl-C to a ``pympas`` process would then see it run
    on. A Python handler here is reset to the default action in every child at exec."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=DEVICES, scope="session")
def device(request) -> str:
    """``"cpu"``, or ``"cuda"`` where a GPU is usable (skipped otherwise).

    Session-scoped so that hypothesis tests may use it (no function-scoped fixture health check).
    """
    if request.param == "cuda":
        reason = cuda_unavailable_reason()
        if reason is not None:
            pytest.skip(reason)
    return request.param


@pytest.fixture(scope="session")
def labelset(tmp_path_factory) -> str:
    """A 4-frame 48x64 label set on disk (bright textured disc on dark noise): learnable in a few
    training steps. Shared, so tests must not modify it; use ``write_labelset`` for one to edit."""
    return write_labelset(tmp_path_factory.mktemp("ls") / "set", n_frames=4)


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder nobody can write in: a read-only tmpfs where the tests run as root (who may
    write anywhere else), a folder without write permission otherwise."""
    import os

    where = tmp_path / "read-only"
    if os.geteuid() != 0:
        where.mkdir()
        where.chmod(0o555)
        yield where
        where.chmod(0o755)
        return
    disk = mount_small_disk(where, read_only=True)
    if isinstance(disk, str):
        pytest.skip(disk)
    try:
        yield disk.path
    finally:
        unmount(disk)


@pytest.fixture
def small_disk(tmp_path):
    """A freshly mounted 2 MiB tmpfs (``.path``, ``.fill(leave=bytes)``)."""
    disk = mount_small_disk(tmp_path / "disk")
    if isinstance(disk, str):
        pytest.skip(disk)
    try:
        yield disk
    finally:
        unmount(disk)
