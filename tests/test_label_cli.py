"""`pympas label` on several small videos, one of them corrupt."""

from __future__ import annotations

import json

import pytest
from helpers.scenes import moving_blobs, videos_one_corrupt, write_video

from pympas.cli import main


@pytest.fixture
def videos(tmp_path):
    return videos_one_corrupt(tmp_path / "in")


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


def test_same_named_videos_from_two_folders_get_one_set_each_and_reruns_skip_their_own(
    tmp_path, capsys
):
    for cam, seed in (("a", 1), ("b", 2)):
        (tmp_path / cam).mkdir()
        write_video(tmp_path / cam / "v.avi", moving_blobs(21, seed=seed))
    a, b = str(tmp_path / "a/v.avi"), str(tmp_path / "b/v.avi")
    out = tmp_path / "out"
    assert main(["label", a, b, "-o", str(out), "-q"]) == 0
    assert entries(out) == ["a", "b"]
    for name, src in (("a", a), ("b", b)):
        assert json.loads((out / name / "labels.json").read_text())["source"] == src
    assert main(["label", a, b, "-o", str(out), "-q"]) == 0
    assert "0 labelled, 2 skipped" in capsys.readouterr().out


def test_a_set_of_another_video_or_other_parameters_is_an_error_never_a_skip(tmp_path, capsys):
    for cam, seed in (("a", 1), ("b", 2)):
        (tmp_path / cam).mkdir()
        write_video(tmp_path / cam / "v.avi", moving_blobs(21, seed=seed))
    a, b = str(tmp_path / "a/v.avi"), str(tmp_path / "b/v.avi")
    out = tmp_path / "out"
    assert main(["label", a, "-o", str(out), "-q"]) == 0  # out/v
    stamp = (out / "v/labels.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["label", b, "-o", str(out), "-q"]) == 1  # also out/v: holds a's labels
    text = capsys.readouterr().out
    assert f"FAILED  {b}: {out / 'v'} holds the labels of another video ({a})" in text
    assert main(["label", a, "-o", str(out), "-q", "--stride", "10"]) == 1
    assert "was labelled with other parameters (stride 20 -> 10)" in capsys.readouterr().out
    assert (out / "v/labels.json").stat().st_mtime_ns == stamp  # untouched
    assert main(["label", a, "-o", str(out), "-q", "--device", "cpu"]) == 0  # same labels
    assert "1 skipped" in capsys.readouterr().out
    assert main(["label", b, "-o", str(out), "-q", "--overwrite"]) == 0
    assert json.loads((out / "v/labels.json").read_text())["source"] == b


def test_two_writers_of_one_set_at_once_one_wins_cleanly_the_other_says_so(tmp_path):
    import pympas
    from pympas.labelset import LabelSetWriter

    labels = pympas.label(moving_blobs(21, seed=1), progress=False)
    out = tmp_path / "set"
    first, second = LabelSetWriter(out), LabelSetWriter(out)  # both start before either ends
    meta = {"source": "v", "height": labels.height, "width": labels.width, "params": {},
            "frame_count": 21}  # fmt: skip
    for writer in (first, second):
        writer.add(labels._labelled(0))
    first.finish(meta)
    with pytest.raises(FileExistsError, match=r"set: was completed by another writer meanwhile"):
        second.finish({**meta, "source": "w"})
    assert json.loads((out / "labels.json").read_text())["source"] == "v"
    assert entries(tmp_path) == ["set"]  # the loser's temporary folder is gone


def test_two_label_processes_on_one_output_both_succeed_with_one_complete_set(tmp_path):
    import os
    import subprocess
    import sys

    video = tmp_path / "v.avi"
    write_video(video, moving_blobs(50, seed=1))
    cmd = [sys.executable, "-m", "pympas", "label", str(video), "-o", str(tmp_path / "out"), "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # cwd away from the checkout: `python -m` imports from the working directory first
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    said = "".join(outputs)
    assert said.count("1 labelled") >= 1 and said.count("1 skipped") <= 1
    assert entries(tmp_path / "out") == ["v"]
    assert json.loads((tmp_path / "out/v/labels.json").read_text())["source"] == str(video)


def test_an_output_folder_that_cannot_be_written_is_refused_before_any_video(
    unwritable_folder, videos, capsys
):
    code = main(["label", str(videos), "-o", str(unwritable_folder), "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("pympas label: error: ") and len(err.splitlines()) == 1
    assert f"{unwritable_folder}: cannot write in the output folder" in err
    assert "(Read-only file system)" in err or "(Permission denied)" in err
