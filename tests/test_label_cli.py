"""`pympas label` on several small videos, one of them corrupt."""

from __future__ import annotations

import json

import pytest
from helpers.scenes import moving_blobs, write_video

from pympas.cli import main


@pytest.fixture
def videos(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_video(src / "walk_a.avi", moving_blobs(25, seed=1))
    write_video(src / "walk_b.avi", moving_blobs(25, seed=2))
    write_video(src / "broken.avi", moving_blobs(25, seed=3))
    data = (src / "broken.avi").read_bytes()
    (src / "broken.avi").write_bytes(data[: len(data) // 2])
    return src


def entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_good_videos_are_written_and_the_corrupt_one_is_reported(tmp_path, videos, capsys):
    out = tmp_path / "out"
    missing = str(tmp_path / "nowhere.mp4")
    code = main(["label", str(videos / "walk_a.avi"), str(videos / "broken.avi"),
                 str(videos / "walk_b.avi"), missing, "-o", str(out), "-q"])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 1
    assert "2 labelled, 0 skipped (already complete), 2 failed" in text
    assert "FAILED  " + str(videos / "broken.avi") + ": " in text and "truncated" in text
    assert f"FAILED  {missing}: no such file or folder" in text
    assert entries(out) == ["walk_a", "walk_b"]  # nothing half-written for the broken one
    meta = json.loads((out / "walk_a/labels.json").read_text())
    assert [f["index"] for f in meta["frames"]] == [0, 20]
    assert entries(out / "walk_a") == ["frames", "labels.json", "masks", "particles.npz"]
    assert entries(out / "walk_a/masks") == ["000000.png", "000020.png"]


def test_rerun_skips_complete_sets_and_overwrite_redoes_them(tmp_path, videos, capsys):
    out = tmp_path / "out"
    args = ["label", str(videos / "walk_a.avi"), "-o", str(out), "-q"]
    assert main(args) == 0
    stamp = (out / "walk_a/labels.json").stat().st_mtime_ns
    assert main(args) == 0
    assert "0 labelled, 1 skipped" in capsys.readouterr().out
    assert (out / "walk_a/labels.json").stat().st_mtime_ns == stamp
    assert json.loads((out / "walk_a/labels.json").read_text())["params"]["tracking"] == "window"
    redo = ["--overwrite", "--overlays", "--stride", "10", "--tracking", "continuous"]
    assert main([*args, *redo]) == 0
    meta = json.loads((out / "walk_a/labels.json").read_text())
    assert [f["index"] for f in meta["frames"]] == [0, 10, 20]
    assert meta["params"]["stride"] == 10 and meta["params"]["tracking"] == "continuous"
    assert entries(out / "walk_a/overlays") == ["000000.png", "000010.png", "000020.png"]
    assert entries(out) == ["walk_a"]


def test_a_folder_of_videos_is_labelled_in_parallel_jobs(tmp_path, videos, capsys):
    out = tmp_path / "out"
    code = main(["label", str(videos), "-o", str(out), "--jobs", "2", "-q"])
    assert code == 1  # broken.avi
    assert "2 labelled, 0 skipped (already complete), 1 failed" in capsys.readouterr().out
    assert entries(out) == ["walk_a", "walk_b"]


def test_interrupted_run_leaves_no_half_written_set(tmp_path, videos, monkeypatch, capsys):
    from pympas import labelset as labels

    real_add = labels.LabelSetWriter.add

    def add_then_interrupt(self, item):
        real_add(self, item)
        raise KeyboardInterrupt

    monkeypatch.setattr(labels.LabelSetWriter, "add", add_then_interrupt)
    out = tmp_path / "out"
    assert main(["label", str(videos / "walk_a.avi"), "-o", str(out), "-q"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert entries(out) == []


def test_bad_parameters_and_inputs_are_named(tmp_path, capsys):
    assert main(["label", str(tmp_path), "-o", str(tmp_path / "out"), "--stride", "0"]) == 2
    assert "stride must be >= 1" in capsys.readouterr().err
    assert main(["label", str(tmp_path), "-o", str(tmp_path / "out"), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["label", str(tmp_path), "-o", str(tmp_path / "out"), "--tracking", "sparse"])
    assert exit_info.value.code == 2
    assert "--tracking: invalid choice: 'sparse'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["label", str(empty), "-o", str(tmp_path / "out"), "-q"]) == 1
    assert f"FAILED  {empty}: folder has no images and no videos" in capsys.readouterr().out


def test_a_worker_asked_to_stop_removes_its_temporary_folder(tmp_path, videos, monkeypatch):
    import threading

    from pympas.cli import label as label_cli
    from pympas.labels import check_params

    stop = threading.Event()
    stop.set()
    monkeypatch.setattr(label_cli, "_STOP", stop)
    params = check_params(20, 20, 20, None, 3000, 0.3, 10, "auto", "window")
    out = tmp_path / "out"
    src = str(videos / "walk_a.avi")
    status = label_cli._label_one(src, str(out / "walk_a"), params, False, False, False)
    assert status[:2] == (src, "interrupted")
    assert entries(out) == []


def test_a_video_without_motion_succeeds_with_empty_masks_and_a_note(tmp_path, capsys):
    import cv2

    still = tmp_path / "still.avi"
    write_video(still, moving_blobs(21, motion=False))
    out = tmp_path / "out"
    assert main(["label", str(still), "-o", str(out), "-q"]) == 0
    assert "still.avi: no moving particles found" in capsys.readouterr().out
    mask = cv2.imread(str(out / "still/masks/000020.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (120, 160) and not mask.any()


def test_output_names_are_distinct_and_repeated_inputs_labelled_once(tmp_path):
    from pympas.cli.label import expand_inputs

    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "cam.avi").write_bytes(b"")
    x, y = str(tmp_path / "x/cam.avi"), str(tmp_path / "y/cam.avi")
    videos, bad = expand_inputs([x, y, x, str(tmp_path / "y")])
    assert videos == [(x, "x"), (y, "y")] and bad == []  # named after their folders
