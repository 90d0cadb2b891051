"""Real signals to real processes: Ctrl-C and SIGTERM to ``pympas segment`` and ``pympas train``
(one clean stop: exit 130/143, one line, nothing half-written), and what a killed command leaves
for the next one."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from helpers.checkpoints import tiny_checkpoint
from helpers.processes import PYTHON, env, long_videos, temporaries, wait_for

STOPPED = "interrupted ({}); finished outputs are kept, nothing half-written is left"


def _run(args: list[str], out: Path) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "pympas", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(),
                            start_new_session=True, cwd=out.parent)  # fmt: skip


def test_a_killed_segment_leaves_a_temporary_that_the_next_run_removes(tmp_path, capsys):
    from pympas.cli import main

    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    videos = long_videos(tmp_path / "in", count=2, frames=200)
    out = tmp_path / "out"
    args = ["segment", str(ckpt), str(videos / "walk0.avi"), "-o", str(out), "--device", "cpu",
            "--overlay-video", "--batch-size", "2"]  # fmt: skip
    proc = _run(args, out)
    assert wait_for(lambda: any(out.glob(".walk0.tmp-*/000003.png")), 120), "no masks written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    left = temporaries(out)
    assert list(left.values()) == [proc.pid]  # what SIGKILL leaves: masks, a partial overlay
    assert (out / next(iter(left)) / "overlay.mp4").exists()
    # the next run into OUT removes it, even though it segments another video
    short = long_videos(tmp_path / "short", count=1, frames=3) / "walk0.avi"
    assert main(["segment", str(ckpt), str(short), "-o", str(out), "--device", "cpu"]) == 0
    assert not temporaries(out) and sorted(p.name for p in out.iterdir()) == ["walk0"]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_segment_cleanly(tmp_path, sig, code):
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    videos = long_videos(tmp_path / "in", count=1, frames=200)
    out = tmp_path / "out"
    proc = _run(["segment", str(ckpt), str(videos / "walk0.avi"), "-o", str(out), "--device",
                 "cpu", "--overlay-video", "--batch-size", "2"], out)  # fmt: skip
    assert wait_for(lambda: any(out.glob(".walk0.tmp-*/000001.png")), 120), "no masks written"
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == ["pympas segment: " + STOPPED.format(sig.name)]
    assert sorted(out.iterdir()) == []  # no half-written folder, no temporary


@pytest.mark.parametrize(("sig", "code", "save_every"),
                         [(signal.SIGINT, 130, 1000), (signal.SIGTERM, 143, 1)])  # fmt: skip
def test_ctrl_c_and_sigterm_stop_training_cleanly(labelset, tmp_path, sig, code, save_every):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    args = ["train", labelset, "-o", str(run), "--steps", "100000", "--arch", "w18-small",
            "--batch-size", "1", "--crop", "32", "--workers", "0", "--log-every", "1",
            "--save-every", str(save_every), "--no-progress"]  # fmt: skip
    proc = _run(args, run)
    wanted = "checkpoint_last.pt" if save_every == 1 else "log.jsonl"
    assert wait_for(lambda: (run / wanted).is_file(), 120), "training did not start"
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == "pympas train: " + STOPPED.format(sig.name)
    assert "Traceback" not in err
    if save_every == 1:  # a run with a checkpoint is kept, resumable, without temporaries
        assert (run / "checkpoint_last.pt").is_file() and not temporaries(run)
    else:  # a new run stopped before its first checkpoint is no run: nothing is left
        assert not run.exists()
