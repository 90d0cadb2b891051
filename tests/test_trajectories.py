"""Trajectory files of the crowd-motion datasets (gKLT text): the reader, label(tracks=...) and
``pympas label --tracks``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.scenes import BLOB, BLOBS, HEIGHT, WIDTH, moving_blobs, write_video

import pympas
from pympas.cli import main
from pympas.labelset import LabelSet
from pympas.trajectories import TrajectoryError, read_trajectories

FRAMES = 30


def write_tracks(path, tracks) -> None:
    """Write trajectories, each a list of (x, y, frame), in the gKLT text format."""
    lines = [f"{len(t)}\t" + "".join(f"({x},{y},{f})" for x, y, f in t) for t in tracks]
    path.write_text("\n".join(lines) + "\n")


def blob_tracks(frames: int = FRAMES) -> list[list[tuple[int, int, int]]]:
    """A 4 x 4 grid of points on each blob of ``moving_blobs``, followed over every frame (file
    frames 1 .. frames), exactly as the blobs move."""
    tracks = []
    for (x0, y0), (vx, vy) in BLOBS:
        for gx in np.linspace(4, BLOB[1] - 5, 4).astype(int):
            for gy in np.linspace(4, BLOB[0] - 5, 4).astype(int):
                tracks.append([(x0 + gx + vx * i, y0 + gy + vy * i, i + 1) for i in range(frames)])
    return tracks


@pytest.fixture
def blob_video(tmp_path):
    video = moving_blobs(FRAMES)
    path = tmp_path / "walk.avi"
    write_video(path, video)
    tracks = tmp_path / "walk_trk.txt"
    write_tracks(tracks, blob_tracks())
    return path, tracks, video


def test_reader_keeps_points_frames_and_line_numbers_as_ids(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("3\t(1,2,4)(3,2,5)(6,2,6)\n\n2\t(10.5,20,1)(11,21,2)\n")
    tracks = read_trajectories(path)
    assert len(tracks) == 2
    np.testing.assert_array_equal(tracks.lines, [1, 3])  # the blank line still counts
    np.testing.assert_array_equal(tracks.offsets, [0, 3, 5])
    np.testing.assert_array_equal(tracks.frames, [4, 5, 6, 1, 2])
    np.testing.assert_array_equal(tracks.points[3], [10.5, 20])
    assert tracks.last_frame == 6


def test_forward_velocity_is_the_next_point_minus_this_and_the_last_point_is_no_particle(
    tmp_path,
):
    path = tmp_path / "t.txt"
    write_tracks(
        path, [[(0, 0, 1), (1, 0, 2), (4, 1, 3), (9, 3, 4)], [(5, 5, 2), (5, 7, 3), (5, 8, 4)]]
    )
    tracks = read_trajectories(path)
    pos, vel, ids = tracks.particles(2, "forward")
    np.testing.assert_array_equal(pos, [[1, 0], [5, 5]])  # file order within the frame
    np.testing.assert_array_equal(vel, [[3, 1], [0, 2]])
    np.testing.assert_array_equal(ids, [1, 2])
    pos, vel, ids = tracks.particles(4, "forward")  # both trajectories end at frame 4
    assert len(pos) == len(vel) == len(ids) == 0


def test_centred_velocity_spans_two_frames_each_side_clipped_to_the_trajectory(tmp_path):
    path = tmp_path / "t.txt"
    xs = [0, 1, 3, 6, 10, 15, 21]
    write_tracks(path, [[(x, 0, f) for f, x in enumerate(xs, start=1)]])
    tracks = read_trajectories(path)
    v = {f: tracks.particles(f, "centred")[1][0, 0] for f in range(1, 8)}
    assert v[4] == (15 - 1) / 4  # frames 2 .. 6
    assert v[1] == (3 - 0) / 2  # frames 1 .. 3: clipped at the start
    assert v[7] == (21 - 10) / 2  # frames 5 .. 7: clipped at the end; the last point counts


def test_trajectories_of_at_most_two_points_give_no_particles(tmp_path):
    path = tmp_path / "t.txt"
    write_tracks(path, [[(0, 0, 1), (1, 0, 2)], [(3, 3, 1)], [(7, 7, 1), (8, 7, 2), (9, 7, 3)]])
    tracks = read_trajectories(path)
    for velocity in ("centred", "forward"):
        np.testing.assert_array_equal(tracks.particles(1, velocity)[2], [3])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("3\t(1,2,1)(2,3,2)", "malformed line: LEN is 3 but it holds 2 points"),
        ("2 (1,2,1)(2,3,2)", "malformed line '2 \\(1,2,1\\)\\(2,3,2\\)'"),
        ("2\t(1,2,1)(2,3)", "malformed line"),
        ("2\t(1,2,1)(2,x,2)", "malformed line"),
        ("2\t(1,2,3)(2,3,3)", "frame 3 after frame 3 \\(frame numbers must increase"),
        ("2\t(1,2,5)(2,3,4)", "frame 4 after frame 5"),
        ("2\t(1,2,0)(2,3,1)", "frame 0 \\(frame numbers are 1-based\\)"),
    ],
)
def test_bad_lines_are_errors_naming_the_file_and_the_line(tmp_path, line, message):
    path = tmp_path / "bad_trk.txt"
    path.write_text("3\t(1,1,1)(2,1,2)(3,1,3)\n" + line + "\n")
    with pytest.raises(TrajectoryError, match=rf"bad_trk\.txt:2: {message}"):
        read_trajectories(path)
    with pytest.raises(TrajectoryError, match=r"bad_trk\.txt:2: "):  # label() reports it too
        pympas.label(None, tracks=path, size=(10, 10), progress=False)


def test_a_missing_tracks_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none\.txt: no such trajectory file"):
        read_trajectories(tmp_path / "none.txt")
    with pytest.raises(ValueError, match=r"tracks .*none\.txt: no such trajectory file"):
        pympas.label(None, tracks=tmp_path / "none.txt", size=(10, 10), progress=False)


@pytest.mark.parametrize("point", ["(10,3,2)", "(3,7,2)", "(-1,3,2)", "(3,-0.5,2)"])
def test_points_outside_the_frames_name_the_file_and_the_line(tmp_path, point):
    path = tmp_path / "out_trk.txt"
    path.write_text(f"3\t(1,1,1)(2,1,2)(3,1,3)\n3\t(3,3,1){point}(3,3,3)\n")
    with pytest.raises(TrajectoryError, match=r"out_trk\.txt:2: point .* outside the 10x7 frames"):
        pympas.label(None, tracks=path, size=(7, 10), progress=False)


def test_frames_beyond_the_video_name_the_file_and_the_line(tmp_path, blob_video):
    path, _, _ = blob_video
    tracks = tmp_path / "long_trk.txt"
    write_tracks(tracks, [*blob_tracks(), [(5, 5, FRAMES), (6, 5, FRAMES + 1), (7, 5, FRAMES + 2)]])
    with pytest.raises(TrajectoryError, match=rf"long_trk\.txt:33: frame {FRAMES + 1} lies beyond"):
        pympas.label(path, tracks=tracks, progress=False)


def test_label_from_tracks_uses_the_video_for_frames_and_matches_the_tracks_alone(blob_video):
    path, tracks, video = blob_video
    with_video = pympas.label(path, tracks=tracks, stride=10, progress=False)
    alone = pympas.label(None, tracks=tracks, size=(HEIGHT, WIDTH), stride=10, progress=False)
    np.testing.assert_array_equal(with_video.frame_indices, [0, 10, 20])
    np.testing.assert_array_equal(alone.frame_indices, [0, 10, 20])
    assert with_video.frame_count == alone.frame_count == FRAMES
    np.testing.assert_array_equal(with_video.masks, alone.masks)
    assert not alone.frames.any()  # no video: black frames
    # the video's frames (MJPG: close to the written ones), at the labelled indices
    assert np.abs(with_video.frames.astype(int) - video[[0, 10, 20]]).mean() < 8
    # file frame t + 1 is video frame t: the particles sit on the blobs of frame t
    for t, parts in zip(with_video.frame_indices, with_video.particles, strict=True):
        assert len(parts) == 32 and parts.keep.all()
        np.testing.assert_array_equal(np.abs(parts.velocities), [[2, 0]] * 32)
        x0 = BLOBS[0][0][0] + 2 * t
        assert parts.positions[:16, 0].min() >= x0 and parts.positions[:16, 0].max() < x0 + 36
        assert with_video.masks[list(with_video.frame_indices).index(t), 30, x0 + 18]
    p = with_video.params
    assert p["tracking"] == "file" and p["klt"] is None and p["tracks"] == str(tracks.resolve())


def test_video_none_needs_tracks_and_size(blob_video):
    _, tracks, _ = blob_video
    with pytest.raises(ValueError, match=r"video=None needs tracks .* and size"):
        pympas.label(None, progress=False)
    with pytest.raises(ValueError, match=r"video=None needs tracks .* and size"):
        pympas.label(None, tracks=tracks, progress=False)
    with pytest.raises(TypeError, match=r"size must be \(height, width\)"):
        pympas.label(None, tracks=tracks, size=120, progress=False)


def test_a_size_other_than_the_videos_is_refused(blob_video):
    path, tracks, _ = blob_video
    with pytest.raises(ValueError, match=r"size 100x160 .* differs from the frames of .*walk"):
        pympas.label(path, tracks=tracks, size=(100, 160), progress=False)


def test_velocity_is_checked_and_recorded():
    video = moving_blobs(12)
    with pytest.raises(ValueError, match="velocity must be 'centred' or 'forward'"):
        pympas.label(video, velocity="backward", progress=False)
    forward = pympas.label(video, velocity="forward", stride=10, progress=False)
    assert forward.params["velocity"] == "forward" and forward.params["velocity_window"] == 2
    assert pympas.label(video, stride=10, progress=False).params["velocity_window"] == 5


def test_forward_klt_velocity_is_the_step_to_the_next_frame_and_needs_that_frame():
    from pympas.particles import VelocityWindow

    # track 0 lives in frames 0..4, track 1 ends at frame 2; positions move faster and faster
    pos = {f: np.array([[f * f, 0.0], [10.0 + f, 5.0]], np.float32) for f in range(5)}
    out = {}
    for velocity in ("forward", "centred"):
        window = VelocityWindow(2, velocity)
        got = []
        for f in range(5):
            ids = np.array([0, 1]) if f <= 2 else np.array([0])
            got += window.push(f, ids, pos[f][: len(ids)], wanted=f in (2, 4))
        got += window.flush()
        out[velocity] = {t: (p, v) for t, p, v in got}
    _p, v = out["forward"][2]
    np.testing.assert_array_equal(v, [[9 - 4, 0]])  # frame 3 minus frame 2; track 1 has none
    assert len(out["forward"][4][0]) == 0  # the last frame has no next frame
    np.testing.assert_array_equal(out["centred"][2][1], [[(16 - 0) / 4, 0], [1, 0]])


def test_links_are_saved_and_label_sets_without_them_still_load(tmp_path, blob_video):
    _, tracks, _ = blob_video
    labels = pympas.label(None, tracks=tracks, size=(HEIGHT, WIDTH), stride=10, progress=False)
    assert all(p.links is not None and (p.links > 0).all() for p in labels.particles)
    back = LabelSet.load(labels.save(tmp_path / "set"))
    for a, b in zip(labels.particles, back.particles, strict=True):
        np.testing.assert_array_equal(a.links, b.links)
    with np.load(tmp_path / "set/particles.npz") as npz:  # a set written before links existed
        older = {k: npz[k] for k in npz.files if k != "links"}
    np.savez_compressed(tmp_path / "set/particles.npz", **older)
    assert all(p.links is None for p in LabelSet.load(tmp_path / "set").particles)


def test_cli_labels_from_tracks_records_them_and_compares_them_on_rerun(
    tmp_path, blob_video, capsys
):
    path, tracks, _ = blob_video
    out = tmp_path / "out"
    args = ["label", str(path), "--tracks", str(tracks), "-o", str(out), "-q", "--stride", "10"]
    assert main([*args, "--velocity", "forward", "--no-clamp-negative", "--min-speed", "0"]) == 0
    params = json.loads((out / "walk/labels.json").read_text())["params"]
    assert params["tracks"] == str(tracks.resolve()) and params["tracking"] == "file"
    assert params["velocity"] == "forward" and params["clamp_negative"] is False
    capsys.readouterr()
    assert main([*args, "--velocity", "forward", "--no-clamp-negative", "--min-speed", "0"]) == 0
    assert "0 labelled, 1 skipped" in capsys.readouterr().out
    assert main(args) == 1
    text = capsys.readouterr().out
    assert "clamp_negative False -> True" in text and "velocity 'forward' -> 'centred'" in text


def test_cli_refuses_tracks_for_several_videos_and_names_a_bad_tracks_line(
    tmp_path, blob_video, capsys
):
    path, tracks, _ = blob_video
    out = tmp_path / "out"
    assert main(["label", str(path), str(path), "--tracks", str(tracks), "-o", str(out)]) == 2
    assert "--tracks labels one video; got 2 inputs" in capsys.readouterr().err
    bad = tmp_path / "bad_trk.txt"
    bad.write_text("3\t(1,1,1)(2,1,2)(3,1,3)\n3\t(1,1,1)(2,1,1)(3,1,3)\n")
    assert main(["label", str(path), "--tracks", str(bad), "-o", str(out), "-q"]) == 1
    assert "bad_trk.txt:2: frame 1 after frame 1" in capsys.readouterr().out
    assert not (out / "walk").exists()


def test_label_sets_from_before_velocity_and_tracks_were_recorded_are_still_complete(
    tmp_path, capsys
):
    src = tmp_path / "walk.avi"
    write_video(src, moving_blobs(12))
    out = tmp_path / "out"
    args = ["label", str(src), "-o", str(out), "-q"]
    assert main(args) == 0
    meta_path = out / "walk/labels.json"
    meta = json.loads(meta_path.read_text())
    for key in ("velocity", "clamp_negative", "tracks"):
        del meta["params"][key]
    meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(args) == 0
    assert "0 labelled, 1 skipped" in capsys.readouterr().out
