"""pympas.label / LabelSet on small synthetic videos (textured blobs over a textured background)."""

from __future__ import annotations

import json
import os
import warnings

import cv2
import numpy as np
import pytest
from helpers.scenes import BLOBS, HEIGHT, WIDTH, blob_boxes, moving_blobs, write_video

import pympas
from pympas.labels import NoMotionWarning

CORNER = 10  # static corners never crossed by a blob (nor within a disc radius of one)


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    return moving_blobs(41)


@pytest.fixture(scope="module")
def labels(video):
    return pympas.label(video, progress=False)


def blob_coverage(mask: np.ndarray, t: int) -> list[float]:
    out = []
    for x0, y0, x1, y1 in blob_boxes(t):
        box = mask[max(y0, 0) : min(y1, HEIGHT), max(x0, 0) : min(x1, WIDTH)]
        out.append(float(box.mean()))
    return out


def static_corners(mask: np.ndarray) -> float:
    return float(mask[:CORNER, -CORNER:].sum() + mask[-CORNER:, :CORNER].sum())


def test_masks_cover_the_moving_blobs_and_not_the_static_corners(labels):
    assert labels.masks.shape == (3, HEIGHT, WIDTH) and labels.masks.dtype == bool
    for i, t in enumerate(labels.frame_indices):
        assert min(blob_coverage(labels.masks[i], int(t))) > 0.9
        assert static_corners(labels.masks[i]) == 0
        assert labels.masks[i].mean() < 0.7  # the static background is mostly left out


def test_one_frame_in_stride_is_labelled(video):
    assert pympas.label(video, progress=False).frame_indices.tolist() == [0, 20, 40]
    short = pympas.label(video[:12], stride=5, progress=False)
    assert short.frame_indices.tolist() == [0, 5, 10]
    assert len(short.masks) == len(short.particles) == len(short.frames) == 3


def test_continuous_labels_do_not_depend_on_stride_or_batching(video):
    labels = pympas.label(video, tracking="continuous", progress=False)
    dense = pympas.label(video, stride=2, progress=False)  # 21 frames: batches of 8, 8 and 5
    assert dense.frame_indices.tolist() == list(range(0, 41, 2))
    assert dense.params["tracking"] == "continuous"  # stride 2: windows would cover every frame
    for i, t in enumerate(labels.frame_indices):
        j = int(t) // 2
        np.testing.assert_array_equal(dense.masks[j], labels.masks[i])
        np.testing.assert_array_equal(dense.particles[j].phi, labels.particles[i].phi)


def test_particles_move_with_their_blob_and_counts_add_up(labels):
    speeds = {abs(vx) for _, (vx, _) in BLOBS}
    for i, parts in enumerate(labels.particles):
        n = len(parts)
        assert parts.positions.shape == parts.velocities.shape == (n, 2)
        assert parts.phi.shape == parts.cluster.shape == parts.keep.shape == (n,)
        np.testing.assert_array_equal(parts.keep, parts.cluster > 0)
        c = labels.counts[i]
        assert c["tracked"] >= c["moving"] == n >= c["kept"] == parts.keep.sum() > 20
        speed = np.hypot(*parts.velocities.T)
        x, y = parts.positions.T
        inside = np.zeros(n, bool)  # particles well inside a blob (not on its occluding edge)
        for x0, y0, x1, y1 in blob_boxes(int(labels.frame_indices[i])):
            inside |= (x >= x0 + 8) & (x < x1 - 8) & (y >= y0 + 8) & (y < y1 - 8)
        assert inside.sum() >= 3
        np.testing.assert_allclose(speed[inside], max(speeds), atol=0.05)  # blobs: 2 px/frame
        assert speed.max() < max(speeds) + 0.2
        assert c["coverage"] == pytest.approx(labels.masks[i].mean())


def test_every_paper_parameter_is_recorded(labels):
    p = labels.params
    assert (p["stride"], p["radius"], p["k"], p["max_particles"]) == (20, 20, 20, 3000)
    assert p["z"] == pytest.approx(1 / 40) and p["threshold"] == pytest.approx(0.6 * (1 / 40) / 0.5)
    assert p["tracking"] == "window" and p["velocity_window"] == 5
    assert labels.frame_count == 41


def test_grayscale_and_colour_give_the_same_labels(video, labels):
    gray = cv2.cvtColor(video.reshape(-1, WIDTH, 3), cv2.COLOR_RGB2GRAY).reshape(video.shape[:3])
    res = pympas.label(gray, progress=False)
    np.testing.assert_array_equal(res.masks, labels.masks)
    assert res.frames.shape == (3, HEIGHT, WIDTH, 3)  # gray frames are stored as RGB


def test_folder_of_images_is_read_in_natural_order(tmp_path, video):
    short = video[:12]
    for t, frame in enumerate(short):  # 1.png, 2.png, ..., 12.png: plain sort would shuffle them
        cv2.imwrite(str(tmp_path / f"{t + 1}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    from_folder = pympas.label(tmp_path, stride=5, progress=False)
    from_array = pympas.label(short, stride=5, progress=False)
    np.testing.assert_array_equal(from_folder.masks, from_array.masks)
    np.testing.assert_array_equal(from_folder.frames, from_array.frames)
    assert from_folder.source == str(tmp_path)


def test_iterable_of_frames_and_video_file_are_labelled_like_the_array(tmp_path, video):
    short = video[:12]
    from_gen = pympas.label((f for f in short), stride=5, progress=False)
    np.testing.assert_array_equal(
        from_gen.masks, pympas.label(short, stride=5, progress=False).masks
    )
    path = tmp_path / "blobs.avi"
    write_video(path, video)
    res = pympas.label(path, progress=False)  # lossy MJPG, same motion
    assert res.frame_indices.tolist() == [0, 20, 40]
    for i, t in enumerate(res.frame_indices):
        assert min(blob_coverage(res.masks[i], int(t))) > 0.9
        assert static_corners(res.masks[i]) == 0


def test_save_then_load_round_trips(tmp_path, labels):
    out = tmp_path / "set"
    labels.save(out)
    meta = json.loads((out / "labels.json").read_text())
    assert meta["format"] == "pympas-labelset" and meta["format_version"] == 1
    assert meta["pympas_version"] == pympas.__version__
    assert (meta["height"], meta["width"]) == (HEIGHT, WIDTH)
    assert meta["frames"][1]["image"] == "frames/000020.png"
    assert meta["frames"][1]["mask"] == "masks/000020.png"
    mask_png = cv2.imread(str(out / "masks/000020.png"), cv2.IMREAD_UNCHANGED)
    assert mask_png.dtype == np.uint8 and mask_png.ndim == 2
    assert set(np.unique(mask_png)) <= {0, 255}
    back = pympas.LabelSet.load(out)
    np.testing.assert_array_equal(back.frame_indices, labels.frame_indices)
    np.testing.assert_array_equal(back.masks, labels.masks)
    np.testing.assert_array_equal(back.frames, labels.frames)
    for a, b in zip(back.particles, labels.particles, strict=True):
        for key in ("positions", "velocities", "phi", "cluster", "keep"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert back.counts == labels.counts and back.params == labels.params
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # no temporary folder left


def test_save_removes_temporaries_of_killed_writers_and_keeps_live_ones(tmp_path, labels):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    host = socket.gethostname()
    killed = tmp_path / f".set.tmp-{host}-{int(dead.stdout)}-abc123"
    live = tmp_path / f".set.tmp-{host}-{os.getpid()}-def456"
    other_set = tmp_path / f".other.tmp-{host}-{int(dead.stdout)}-ghi789"
    for folder in (killed, live, other_set):
        (folder / "frames").mkdir(parents=True)
    labels.save(tmp_path / "set")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["set", live.name, other_set.name])


def test_save_refuses_an_existing_folder_unless_overwrite(tmp_path, labels):
    out = tmp_path / "set"
    out.mkdir()
    with pytest.raises(FileExistsError, match="set"):
        labels.save(out)
    labels.save(out, overwrite=True)
    assert (out / "labels.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_load_names_the_missing_file(tmp_path, labels):
    with pytest.raises(ValueError, match=r"labels\.json"):
        pympas.LabelSet.load(tmp_path)
    labels.save(tmp_path / "set")
    (tmp_path / "set/masks/000020.png").unlink()
    with pytest.raises(ValueError, match=r"000020\.png"):
        pympas.LabelSet.load(tmp_path / "set")


def test_overlay_draws_kept_particles_outliers_and_mask_edge(labels):
    img = labels.overlay(1)
    assert img.shape == (HEIGHT, WIDTH, 3) and img.dtype == np.uint8
    changed = np.any(img != labels.frames[1], axis=2)
    assert 0 < changed.mean() < 0.5
    yellow = np.all(img == (255, 255, 0), axis=2)
    edge = labels.masks[1] ^ cv2.erode(labels.masks[1].astype(np.uint8), np.ones((3, 3))).astype(
        bool
    )
    assert yellow[edge].mean() > 0.5  # the mask edge is drawn
    x, y = np.rint(labels.particles[1].positions[labels.particles[1].keep][0]).astype(int)
    assert tuple(img[y, x]) == (0, 255, 0)  # a kept particle is a green dot
    with pytest.raises(IndexError):
        labels.overlay(3)


def test_no_motion_gives_empty_masks_and_a_warning():
    still = moving_blobs(21, motion=False)
    with pytest.warns(NoMotionWarning, match="array: no moving particles"):
        res = pympas.label(still, progress=False)
    assert res.masks.shape == (2, HEIGHT, WIDTH) and not res.masks.any()
    assert all(c["moving"] == 0 for c in res.counts)


def test_progress_bar_is_shown_when_asked(video, capsys):
    with warnings.catch_warnings():
        pympas.label(video[:6], stride=5, progress=True)
    assert "frame" in capsys.readouterr().err


def test_labels_on_every_device_equal_the_cpu_labels(video, labels, device):
    on_device = pympas.label(video, device=device, progress=False)
    np.testing.assert_array_equal(on_device.masks, labels.masks)
    for a, b in zip(on_device.particles, labels.particles, strict=True):
        np.testing.assert_array_equal(a.cluster, b.cluster)
        np.testing.assert_allclose(a.phi, b.phi, rtol=1e-12)
    assert on_device.params["device"] == device


def test_an_unknown_device_is_refused_naming_it(video):
    with pytest.raises(ValueError, match=r"device must be 'auto', 'cpu'.*'tpu'"):
        pympas.label(video, device="tpu", progress=False)


def _edit_meta(root, change):
    meta = json.loads((root / "labels.json").read_text())
    change(meta)
    (root / "labels.json").write_text(json.dumps(meta))


def _edit_npz(root, change):
    with np.load(root / "particles.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(root / "particles.npz", **arrays)


MALFORMED = {
    # what LabelSet.load raised before: KeyError, TypeError, AttributeError, UnicodeDecodeError,
    # BadZipFile, or nothing at all (non-monotone offsets)
    "index is text": ("labels.json", lambda r: _edit_meta(
        r, lambda m: m["frames"][0].update(index="zero"))),
    "image is a number": ("labels.json", lambda r: _edit_meta(
        r, lambda m: m["frames"][0].update(image=7))),
    "image outside the set": ("labels.json", lambda r: _edit_meta(
        r, lambda m: m["frames"][0].update(image="../../etc/passwd"))),
    "counts missing": ("labels.json", lambda r: _edit_meta(
        r, lambda m: m["frames"][1].pop("coverage"))),
    "params not an object": ("labels.json", lambda r: _edit_meta(
        r, lambda m: m.update(params=["stride", 20]))),
    "source missing": ("labels.json", lambda r: _edit_meta(r, lambda m: m.pop("source"))),
    "not UTF-8": ("labels.json", lambda r: (r / "labels.json").write_bytes(b"\xff\xfe{\x00")),
    "npz not a zip": ("particles.npz", lambda r: (r / "particles.npz").write_bytes(b"PK\x03\x04")),
    "npz truncated": ("particles.npz", lambda r: (r / "particles.npz").write_bytes(
        (r / "particles.npz").read_bytes()[:200])),
    "no offsets": ("particles.npz", lambda r: _edit_npz(r, lambda a: a.pop("offsets"))),
    "offsets not monotone": ("particles.npz", lambda r: _edit_npz(
        r, lambda a: a.update(offsets=a["offsets"][[0, 2, 1, 3]]))),
    "offsets short": ("particles.npz", lambda r: _edit_npz(
        r, lambda a: a.update(offsets=a["offsets"][:2]))),
    "phi of another length": ("particles.npz", lambda r: _edit_npz(
        r, lambda a: a.update(phi=a["phi"][:-1]))),
    "keep as text": ("particles.npz", lambda r: _edit_npz(
        r, lambda a: a.update(keep=a["keep"].astype(str)))),
    "mask truncated": ("000020.png", lambda r: (r / "masks/000020.png").write_bytes(
        (r / "masks/000020.png").read_bytes()[:60])),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_label_set_raises_label_set_error_naming_the_file(tmp_path, labels, case):
    from pympas.labelset import LabelSetError

    root = tmp_path / "set"
    labels.save(root)
    named, corrupt = MALFORMED[case]
    corrupt(root)
    with pytest.raises(LabelSetError, match=named.replace(".", r"\.")):
        pympas.LabelSet.load(root)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_output_folders_and_files_get_the_permissions_the_umask_allows(tmp_path, labels, umask):
    from pympas.files import write_text_atomic

    old = os.umask(umask)
    try:
        labels.save(tmp_path / "set")
        write_text_atomic(tmp_path / "scores.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "set").stat().st_mode & 0o777 == 0o777 & ~umask  # not always 0700
    assert (tmp_path / "set/labels.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "scores.json").stat().st_mode & 0o777 == 0o666 & ~umask
