"""Real processes for the interruption tests: children from /proc (no psutil), temporaries by
writer PID, waiting with a deadline, and videos long enough to be caught mid-labelling."""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from pathlib import Path

import numpy as np

from helpers.scenes import moving_blobs, write_video

PYTHON = sys.executable


def state(pid: int) -> str | None:
    """The /proc state letter of ``pid`` (R, S, Z, ...), None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2]


def running(pid: int) -> bool:
    """``pid`` exists and is not a zombie waiting to be reaped."""
    return state(pid) not in (None, "Z", "X")


def _stats() -> dict[int, list[str]]:
    """Every process's /proc stat fields after its name (state, ppid, pgrp, session, ...)."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            stats[int(entry.name)] = text[text.rindex(")") + 2 :].split()
    return stats


def in_session(sid: int) -> list[int]:
    """The processes of session ``sid`` (those a ``start_new_session`` child left behind)."""
    return [pid for pid, fields in _stats().items() if int(fields[3]) == sid]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    parents = {p: int(fields[1]) for p, fields in _stats().items()}
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def temporaries(folder: Path) -> dict[str, int]:
    """Temporary outputs in ``folder`` (``.NAME.tmp-HOST-PID-*``): name -> writer PID."""
    pattern = re.compile(r"^\..+\.tmp-" + re.escape(socket.gethostname()) + r"-(\d+)-")
    if not folder.is_dir():
        return {}
    out = {}
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if match:
            out[entry.name] = int(match.group(1))
    return out


def long_videos(folder: Path, count: int, frames: int) -> Path:
    """``count`` AVIs of ``frames`` frames (the blobs walk back and forth), in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        walk = moving_blobs(55, seed=i)
        order = np.concatenate([np.arange(55), np.arange(54, -1, -1)])
        write_video(folder / f"walk{i}.avi", walk[np.resize(order, frames)])
    return folder


def env() -> dict[str, str]:
    """The environment of a child ``python -m pympas``: one thread each."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}
