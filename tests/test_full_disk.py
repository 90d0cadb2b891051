"""Every writer on a real full disk (a 2 MiB tmpfs): an error naming the file, exit code 1 from
the commands, and nothing that passes as complete (no output folder, no temporary left)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.checkpoints import tiny_checkpoint
from helpers.labelsets import write_labelset
from helpers.scenes import moving_blobs, write_video

from pympas.cli import main

NO_SPACE = "No space left on device"


def _entries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != ".ballast")


def _noise_video(path, frames=8, h=96, w=128):
    rng = np.random.default_rng(0)
    write_video(path, rng.integers(0, 255, (frames, h, w, 3), dtype=np.uint8))
    return path


def test_segment_on_a_full_disk_fails_naming_the_mask_file_and_writes_no_folder(
    tmp_path, small_disk, capsys
):
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    video = _noise_video(tmp_path / "clip.avi")
    out = small_disk.path / "out"
    out.mkdir()
    small_disk.fill(leave=0)
    code = main(["segment", str(ckpt), str(video), "-o", str(out), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{out}/.clip.tmp-" in err and "000000.png: could not be written" in err
    assert NO_SPACE in err
    assert _entries(out) == []  # neither out/clip nor a temporary folder


def test_segment_overlay_video_cut_short_by_a_full_disk_fails_naming_it(
    tmp_path, small_disk, capsys
):
    """The masks fit, the overlay video does not: OpenCV's writer says nothing, the frame count
    read back does."""
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    video = _noise_video(tmp_path / "clip.avi")
    out = small_disk.path / "out"
    out.mkdir()
    small_disk.fill(leave=96 * 1024)  # 8 masks take 8 pages; 8 noisy overlay frames do not fit
    code = main(["segment", str(ckpt), str(video), "-o", str(out), "--device", "cpu",
                 "--overlay-video"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "overlay.mp4: could not be written" in err or "overlay.avi: could not be written" in err
    assert _entries(out) == []


def test_label_on_a_full_disk_fails_the_video_naming_the_file_and_leaves_no_set(
    tmp_path, small_disk, capsys
):
    video = tmp_path / "walk.avi"
    write_video(video, moving_blobs(25, seed=1))
    out = small_disk.path / "labels"
    out.mkdir()
    small_disk.fill(leave=8 * 1024)  # a page or two: the first frames fit, not the set
    code = main(["label", str(video), "-o", str(out), "-q"])
    text = capsys.readouterr().out
    assert code == 1
    assert f"FAILED  {video}: " in text and NO_SPACE in text and f"{out}/.walk.tmp-" in text
    assert _entries(out) == []


def test_label_set_arrays_on_a_full_disk_name_particles_npz(small_disk):
    from pympas.labelset import LabelSet, Particles

    rng = np.random.default_rng(0)
    n = 150_000  # random float64s do not compress: ~2.4 MB of particles, more than the disk
    many = Particles(rng.random((n, 2)), rng.random((n, 2)), rng.random(n),
                     np.ones(n, np.int64), np.ones(n, bool))  # fmt: skip
    labels = LabelSet("v.avi", np.array([0]), np.zeros((1, 8, 8, 3), np.uint8),
                      np.zeros((1, 8, 8), bool), [many], params={})  # fmt: skip
    with pytest.raises(OSError, match=r"particles\.npz: could not be written .*No space") as err:
        labels.save(small_disk.path / "set")
    assert err.value.errno == 28
    assert _entries(small_disk.path) == []


def test_synth_scene_on_a_full_disk_fails_naming_the_file_and_leaves_no_scene(small_disk):
    pytest.importorskip("jupedsim")
    from pympas.synth.scene import render_scene

    small_disk.fill(leave=16 * 1024)
    with pytest.raises(OSError, match=r"\.scene\.tmp-.*could not be written"):
        render_scene("corridor", small_disk.path / "scene", frames=6, size=(64, 48))
    assert _entries(small_disk.path) == []


def test_evaluate_json_and_csv_on_a_full_disk_fail_naming_the_file(tmp_path, small_disk, capsys):
    labels = write_labelset(tmp_path / "set", n_frames=2)
    small_disk.fill(leave=0)
    for option, name in (("--json", "scores.json"), ("--csv", "scores.csv")):
        target = small_disk.path / name
        assert main(["evaluate", labels, labels, option, str(target)]) == 1
        err = capsys.readouterr().err
        assert f"pympas evaluate: error: [Errno 28] {target}: could not be written" in err
        assert _entries(small_disk.path) == []


def test_training_checkpoint_on_a_full_disk_fails_naming_it_and_leaves_no_run(
    labelset, small_disk, capsys
):
    pytest.importorskip("torch")
    run = small_disk.path / "run"
    tiny = ["--steps", "1", "--arch", "w18-small", "--batch-size", "1", "--crop", "32"]
    code = main(["train", labelset, "-o", str(run), *tiny, "--workers", "0", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{run}/checkpoint_000001.pt: could not be written" in err and NO_SPACE in err
    assert "Traceback" not in err
    assert _entries(small_disk.path) == []  # a run without a checkpoint is removed


def test_a_video_file_cut_short_by_a_full_disk_is_an_error_naming_it(small_disk):
    from pympas.files import VideoFileWriter

    small_disk.fill(leave=64 * 1024)
    rng = np.random.default_rng(0)
    writer = VideoFileWriter(small_disk.path / "clip", 25, (160, 120))
    with pytest.raises(OSError, match=r"clip\.(mp4|avi): could not be written") as err:
        for _ in range(40):
            writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
        writer.close()
    assert str(writer.path) in str(err.value)


def test_json_and_text_writers_leave_the_old_file_when_the_disk_is_full(small_disk):
    from pympas.files import LineLog, append_text, write_text_atomic

    target = small_disk.path / "scores.json"
    write_text_atomic(target, json.dumps({"miou": 0.5}))
    log = LineLog(small_disk.path / "log.jsonl")
    log.write("{}")
    small_disk.fill(leave=0)
    with pytest.raises(OSError, match=rf"{target}: could not be written \(No space"):
        write_text_atomic(target, "x" * 100_000)
    assert json.loads(target.read_text()) == {"miou": 0.5}
    with pytest.raises(OSError, match=r"log\.jsonl: could not be written"):
        for _ in range(2000):
            log.write("y" * 100)
    with pytest.raises(OSError, match=r"command\.txt: could not be written"):
        append_text(small_disk.path / "command.txt", "z" * 100_000)
