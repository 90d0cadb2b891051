"""Real signals to real processes: ``pympas label --jobs`` whose parent or one of whose workers
is killed, stopped by SIGTERM or Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from helpers.processes import (
    PYTHON,
    descendants,
    env,
    long_videos,
    running,
    temporaries,
    wait_for,
)

from pympas.labelset import is_complete

STOPPED = "interrupted ({}); finished outputs are kept, nothing half-written is left"


def _label(inputs: Path, out: Path, *extra: str) -> subprocess.Popen:
    cmd = [PYTHON, "-m", "pympas", "label", str(inputs), "-o", str(out), "-q", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(), start_new_session=True, cwd=out.parent)  # fmt: skip


def _sets(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def test_killing_the_parent_of_label_jobs_takes_its_workers_with_it(tmp_path):
    """SIGKILL to the parent: the workers get the parent-death signal, stop cleanly (no
    temporary left) instead of labelling the rest of the queue as orphans."""
    videos = long_videos(tmp_path / "in", count=3, frames=300)
    out = tmp_path / "out"
    proc = _label(videos, out, "--jobs", "2")
    workers: list[int] = []
    try:
        assert wait_for(lambda: len(temporaries(out)) == 2, 90), "workers did not start"
        workers = descendants(proc.pid)
        assert len(workers) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)  # (orphans would keep its pipes open: no communicate here)
        assert wait_for(lambda: not any(running(p) for p in workers), 20), [
            p for p in workers if running(p)
        ]
        assert wait_for(lambda: not temporaries(out), 10), temporaries(out)
        assert _sets(out) == []  # nothing was complete; nothing passes as complete
    finally:  # orphans must not outlive the test, whatever happened
        for pid in [proc.pid, *workers]:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_stop_label_jobs_cleanly(tmp_path, sig, code):
    videos = long_videos(tmp_path / "in", count=3, frames=300)
    out = tmp_path / "out"
    proc = _label(videos, out, "--jobs", "2")
    assert wait_for(lambda: len(temporaries(out)) == 2, 90), "workers did not start"
    workers = descendants(proc.pid)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C reaches the whole process group
    else:
        os.kill(proc.pid, sig)  # SIGTERM to the parent alone (kill, systemd, a batch system)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == "pympas label: " + STOPPED.format(sig.name)
    assert "Traceback" not in err
    assert wait_for(lambda: not any(running(p) for p in workers), 20)
    assert not temporaries(out)
    assert all(is_complete(out / name) for name in _sets(out))


def test_a_worker_killed_midway_costs_no_video_and_the_summary_says_what_happened(tmp_path):
    """SIGKILL to one worker (as the out-of-memory killer would): its video and its sibling's
    are labelled again, alone; nothing is reported FAILED that is complete on disk."""
    videos = long_videos(tmp_path / "in", count=4, frames=220)
    out = tmp_path / "out"
    proc = _label(videos, out, "--jobs", "2")
    assert wait_for(lambda: len(temporaries(out)) >= 1, 90), "workers did not start"
    name, victim = next(iter(temporaries(out).items()))
    os.kill(victim, signal.SIGKILL)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, stdout + err
    assert "4 labelled, 0 skipped (already complete), 0 failed" in stdout
    killed_video = name[1:].split(".tmp-")[0]
    line = next(s for s in stdout.splitlines() if f"{killed_video}.avi:" in s)
    assert line.startswith("  ok ") and "after a worker process died" in line
    assert _sets(out) == [f"walk{i}" for i in range(4)]
    assert all(is_complete(out / f"walk{i}") for i in range(4))
    assert not temporaries(out)  # the killed worker's folder was removed by the retry


def test_a_worker_that_dies_on_every_try_fails_only_its_video(tmp_path, monkeypatch):
    """The pool logic itself, with a worker function that kills its own process for one video."""
    from pympas.cli import label as label_cli

    jobs = [(f"v{i}", str(tmp_path / f"v{i}"), {}, False, False, False) for i in range(3)]
    monkeypatch.setattr(label_cli, "_label_job", _die_on_v1)

    class Bar:
        def update(self):
            pass

    results = label_cli._run_parallel(jobs, 2, Bar())
    # v0 and v2 keep their own result; when v1's death broke the pool before a sibling's result
    # came back, that sibling was labelled again and says so (the timing decides which)
    again = "fine (labelled again after a worker process died)"
    for i in (0, 2):
        assert results[i][:2] == (f"v{i}", "ok") and results[i][2] in ("fine", again)
    assert results[1][:2] == ("v1", "failed")
    assert "died, also when it was labelled alone" in results[1][2]


def _die_on_v1(index, src, *rest):
    from pympas.cli import label as label_cli

    if label_cli._STARTED is not None:
        label_cli._STARTED[index] = 1
    if src == "v1":
        os.kill(os.getpid(), signal.SIGKILL)
    return src, "ok", "fine"
