"""Windowed tracking (``tracking="window"``, the default): only the frames t - 2 .. t + 2 around
each labelled frame t are tracked, from corners detected at t - 2; the others are only read."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.scenes import HEIGHT, WIDTH, blob_boxes, moving_blobs, write_video

import pympas
from pympas.labels import Stopped, check_params, label_stream
from pympas.particles import WindowedTracker
from pympas.video import open_video


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    return moving_blobs(41)


@pytest.fixture(scope="module")
def windowed(video):
    return pympas.label(video, progress=False)


@pytest.fixture(scope="module")
def continuous(video):
    return pympas.label(video, tracking="continuous", progress=False)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def covers_the_blobs(mask: np.ndarray, t: int) -> bool:
    for x0, y0, x1, y1 in blob_boxes(t):
        box = mask[max(y0, 0) : min(y1, HEIGHT), max(x0, 0) : min(x1, WIDTH)]
        if box.mean() <= 0.9:
            return False
    return True


def test_only_the_frames_within_two_of_a_labelled_frame_are_tracked():
    tracker = WindowedTracker(stride=20, half_window=2)
    tracked = [f for f in range(45) if tracker.tracks(f)]
    assert tracked == [0, 1, 2, 18, 19, 20, 21, 22, 38, 39, 40, 41, 42]
    assert [f for f in range(45) if tracker.starts(f)] == [0, 18, 38]


def test_corners_are_detected_at_the_window_start_and_the_labelled_frame_only():
    tracker = WindowedTracker(stride=20, half_window=2)
    flat = np.full((HEIGHT, WIDTH), 128, np.uint8)
    textured = moving_blobs(1, colour=False)[0]
    ids_start, _ = tracker.step(18, textured)  # the window start: corners detected
    assert len(ids_start) > 50
    assert len(tracker.step(19, flat)[0]) == 0  # lost on a flat frame, none detected
    ids_t, _ = tracker.step(20, textured)  # the labelled frame: detected afresh
    assert len(ids_t) > 50 and ids_t.min() > ids_start.max()  # new ids, never reused
    ids_after, _ = tracker.step(21, textured)
    assert set(ids_after) <= set(ids_t)  # after t: tracked only


def test_windowed_tracker_refuses_frames_outside_or_out_of_order_and_covering_windows():
    tracker = WindowedTracker(stride=20, half_window=2)
    gray = moving_blobs(1, colour=False)[0]
    with pytest.raises(ValueError, match="frame 10 lies outside every tracking window"):
        tracker.step(10, gray)
    tracker.step(0, gray)
    with pytest.raises(ValueError, match="frame 2 given without frame 1"):
        tracker.step(2, gray)
    with pytest.raises(ValueError, match="windows cover every frame"):
        WindowedTracker(stride=5, half_window=2)


def test_windowed_masks_cover_the_blobs_and_match_continuous_tracking(windowed, continuous):
    assert windowed.params["tracking"] == "window"
    assert continuous.params["tracking"] == "continuous"
    assert windowed.frame_indices.tolist() == continuous.frame_indices.tolist() == [0, 20, 40]
    for i, t in enumerate(windowed.frame_indices):
        assert covers_the_blobs(windowed.masks[i], int(t))
        assert iou(windowed.masks[i], continuous.masks[i]) > 0.9
        speed = np.hypot(*windowed.particles[i].velocities.T)
        assert speed.max() < 2.2  # blobs move 2 px/frame: no particle faster than they are


def test_the_first_labelled_frame_sees_the_same_tracks_in_both_modes(windowed, continuous):
    # t = 0: both detect at frame 0 and track frames 1 and 2 (the window clipped at the start).
    np.testing.assert_array_equal(windowed.masks[0], continuous.masks[0])
    first, same = windowed.particles[0], continuous.particles[0]
    np.testing.assert_array_equal(first.positions, same.positions)
    np.testing.assert_array_equal(first.velocities, same.velocities)


def test_frames_outside_the_windows_do_not_change_the_labels(video, windowed):
    scrambled = video.copy()
    rng = np.random.default_rng(5)
    for f in [*range(3, 18), *range(23, 38)]:  # every frame outside the windows of 0, 20, 40
        scrambled[f] = rng.integers(0, 256, video.shape[1:], dtype=np.uint8)
    res = pympas.label(scrambled, progress=False)
    np.testing.assert_array_equal(res.masks, windowed.masks)
    # and each window is tracked on its own: stride 10 labels 0, 20, 40 as stride 20 does
    finer = pympas.label(video, stride=10, progress=False)
    assert finer.params["tracking"] == "window"
    np.testing.assert_array_equal(finer.masks[::2], windowed.masks)
    for a, b in zip(finer.particles[::2], windowed.particles, strict=True):
        np.testing.assert_array_equal(a.velocities, b.velocities)


@pytest.mark.parametrize("stride", [1, 3, 5])
def test_strides_up_to_the_window_length_track_continuously(video, stride):
    res = pympas.label(video[:16], stride=stride, progress=False)
    assert res.params["tracking"] == "continuous"
    again = pympas.label(video[:16], stride=stride, tracking="continuous", progress=False)
    np.testing.assert_array_equal(res.masks, again.masks)
    assert check_params(6, 20, 20, None, 3000, 0.3, 10, "cpu", "window")["tracking"] == "window"


@pytest.mark.parametrize("frames", [2, 3, 4])
def test_a_video_shorter_than_one_window_is_labelled_at_frame_0(video, frames):
    res = pympas.label(video[:frames], progress=False)
    assert res.frame_indices.tolist() == [0] and res.frame_count == frames
    assert covers_the_blobs(res.masks[0], 0)
    same = pympas.label(video[:frames], tracking="continuous", progress=False)
    np.testing.assert_array_equal(res.masks, same.masks)


@pytest.mark.parametrize("frames, labelled", [(39, [0, 20]), (40, [0, 20]), (42, [0, 20, 40])])
def test_a_stream_ending_inside_a_window_is_labelled_up_to_its_end(video, frames, labelled):
    longer = np.concatenate([video, moving_blobs(43)[41:]])  # frames 0..42
    res = pympas.label(iter(list(longer[:frames])), progress=False)  # an iterable: no length
    assert res.frame_indices.tolist() == labelled and res.frame_count == frames
    for i, t in enumerate(res.frame_indices):
        assert covers_the_blobs(res.masks[i], int(t))


def test_a_window_running_past_a_truncated_end_is_labelled_like_a_video_ending_there(tmp_path):
    frames = moving_blobs(43)
    cut, whole = tmp_path / "cut.avi", tmp_path / "whole.avi"
    write_video(cut, frames)  # MJPG: every frame coded on its own
    data = cut.read_bytes()
    chunks = [i for i in range(len(data)) if data.startswith(b"00dc", i)]  # frames, then index
    cut.write_bytes(data[: chunks[42]])  # the index and frame 42 lost: 41 frames decode
    write_video(whole, frames[:41])
    res = pympas.label(cut, progress=False)
    assert res.frame_count == 41 and res.frame_indices.tolist() == [0, 20, 40]
    # t = 40: its window 38..42 runs past the last frame, 40; velocities over 38..40
    np.testing.assert_array_equal(res.masks, pympas.label(whole, progress=False).masks)
    assert covers_the_blobs(res.masks[2], 40)


def test_a_video_file_only_grabs_the_skipped_frames_and_reads_the_others_unchanged(tmp_path):
    path = tmp_path / "blobs.avi"
    write_video(path, moving_blobs(12))
    every = list(open_video(path))
    source = open_video(path)
    some = list(source.frames(skip=lambda f: f % 4 != 0))
    assert len(some) == 12 and source.shape == (HEIGHT, WIDTH)
    for f, frame in enumerate(some):
        if f % 4:
            assert frame is None
        else:
            np.testing.assert_array_equal(frame, every[f])


def test_skipped_frames_of_arrays_and_iterables_are_still_checked(video):
    frames = [*video[:5], video[5, :100], *video[6:12]]  # frame 5 lies outside every window
    with pytest.raises(ValueError, match="iterable: frame 5 has size 160x100"):
        pympas.label(frames, progress=False)


def test_stop_is_polled_on_the_skipped_frames_too(video):
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) == 10

    params = check_params(20, 20, 20, None, 3000, 0.3, 10, "cpu", "window")
    with pytest.raises(Stopped, match="array: stopped at frame 9"):
        list(label_stream(video, params, progress=False, stop=stop))


def test_labelled_images_are_the_frames_and_round_trip_with_the_mode(tmp_path, video, windowed):
    np.testing.assert_array_equal(windowed.frames, video[[0, 20, 40]])
    windowed.save(tmp_path / "set")
    back = pympas.LabelSet.load(tmp_path / "set")
    assert back.params["tracking"] == "window" and back.params == windowed.params
