"""Bad input to pympas.label: every error names the file or the argument."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.scenes import moving_blobs, write_video

import pympas
from pympas.video import VideoError


@pytest.fixture(scope="module")
def short() -> np.ndarray:
    return moving_blobs(6)


def test_missing_path_names_it(tmp_path):
    path = tmp_path / "nowhere.avi"
    with pytest.raises(FileNotFoundError, match=r"nowhere\.avi"):
        pympas.label(path, progress=False)
    with pytest.raises(ValueError, match=r"nowhere\.avi"):  # also a ValueError
        pympas.label(str(path), progress=False)


def test_file_that_is_not_a_video_is_refused_naming_it(tmp_path):
    path = tmp_path / "notes.avi"
    path.write_text("these are not frames\n" * 50)
    with pytest.raises(VideoError, match=r"notes\.avi: not a video"):
        pympas.label(path, progress=False)


def test_truncated_video_is_reported_not_half_labelled(tmp_path):
    path = tmp_path / "cut.avi"
    write_video(path, moving_blobs(40))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=r"cut\.avi: truncated or corrupt"):
        pympas.label(path, progress=False)


@pytest.mark.parametrize("frames", [0, 1])
def test_arrays_of_zero_or_one_frame_are_refused(short, frames):
    with pytest.raises(VideoError, match=r"array: has (no frames|only one frame)"):
        pympas.label(short[:frames], progress=False)


def test_folder_of_one_image_is_refused_as_a_single_frame(tmp_path, short):
    import cv2

    cv2.imwrite(str(tmp_path / "0.png"), short[0])
    with pytest.raises(VideoError, match="only one frame"):
        pympas.label(tmp_path, progress=False)


def test_frames_of_changing_size_are_refused_naming_the_frame(short):
    frames = [*short[:3], short[3, :100, :150], *short[4:]]
    with pytest.raises(VideoError, match="iterable: frame 3 has size 150x100"):
        pympas.label(frames, progress=False)


def test_folder_without_images_is_refused_naming_it(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(VideoError, match=f"{tmp_path.name}: folder has no images"):
        pympas.label(tmp_path, progress=False)


def test_unreadable_image_in_a_folder_is_named(tmp_path, short):
    import cv2

    for t, frame in enumerate(short):
        cv2.imwrite(str(tmp_path / f"{t}.png"), frame)
    (tmp_path / "3.png").write_bytes(b"broken")
    with pytest.raises(VideoError, match=r"3\.png: cannot read"):
        pympas.label(tmp_path, progress=False)


@pytest.mark.parametrize(
    "video, error, match",
    [
        (4.2, TypeError, "video must be"),  # an int is a camera index
        (np.zeros((5, 8, 8, 2), np.uint8), ValueError, "video array must have shape"),
        (np.full((5, 8, 8), np.nan), ValueError, "NaN"),
        (np.full((5, 8, 8), 300, np.int32), ValueError, r"\[0, 255\]"),
    ],
)
def test_unusable_arrays_and_types_are_refused_with_the_reason(video, error, match):
    with pytest.raises(error, match=match):
        pympas.label(video, progress=False)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"stride": 0}, ValueError, "stride"),
        ({"stride": 2.5}, TypeError, "stride"),
        ({"radius": -1}, ValueError, "radius"),
        ({"k": 0}, ValueError, "k must be"),
        ({"z": 0.5}, ValueError, "z must lie"),
        ({"max_particles": 0}, ValueError, "max_particles"),
        ({"min_speed": -0.1}, ValueError, "min_speed"),
        ({"min_cluster_size": 0}, ValueError, "min_cluster_size"),
        ({"device": "tpu"}, ValueError, "device"),
        ({"tracking": "sparse"}, ValueError, "tracking must be 'window' or 'continuous'"),
    ],
)
def test_parameters_out_of_range_name_the_parameter(short, kwargs, error, match):
    with pytest.raises(error, match=match):
        pympas.label(short, progress=False, **kwargs)


def test_image_of_another_size_in_a_folder_is_named(tmp_path, short):
    import cv2

    for t, frame in enumerate(short):
        cv2.imwrite(str(tmp_path / f"img{t}.png"), frame if t != 4 else frame[:60])
    with pytest.raises(VideoError, match=r"img4\.png: frame 4 has size 160x60"):
        pympas.label(tmp_path, progress=False)


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip_middle(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 20]) + data[mid + 20 :]


@pytest.mark.parametrize(
    ("damage", "said"),
    [(_truncate, r"\((corrupt|damaged)"), (_flip_middle, r"\(damaged .*Corrupt JPEG data")],
)
def test_a_damaged_jpeg_in_an_image_folder_is_an_error_naming_it(tmp_path, capsys, damage, said):
    """libjpeg decodes a truncated JPEG or one with corrupt data into an image with grey or
    garbage rows, warns on stderr and succeeds; the damaged frame must not become training
    data."""
    import cv2

    from pympas.cli import main

    frames = tmp_path / "frames"
    frames.mkdir()
    for t, frame in enumerate(moving_blobs(25)):
        cv2.imwrite(str(frames / f"{t:03d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    bad = frames / "012.jpg"
    bad.write_bytes(damage(bad.read_bytes()))
    assert cv2.imread(str(bad)) is not None  # what OpenCV itself makes of it
    with pytest.raises(VideoError, match=rf"012\.jpg: cannot read this image {said}"):
        pympas.label(frames, progress=False)
    out = tmp_path / "out"
    assert main(["label", str(frames), "-o", str(out), "-q"]) == 1
    assert f"FAILED  {frames}: {bad}: cannot read this image" in capsys.readouterr().out
    assert list(out.iterdir()) == []


def test_k_beyond_int64_is_refused_by_the_command_naming_it(tmp_path, capsys):
    from pympas.cli import main

    assert main(["label", str(tmp_path), "-o", str(tmp_path / "out"), "--k", str(2**63)]) == 2
    assert "k must be <= 9223372036854775807" in capsys.readouterr().err
