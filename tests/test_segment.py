"""pympas.segment: streaming inference, padding to the network stride, PNG and MP4 output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pympas.video", reason="pympas.video (the label feature) is not merged yet")

import cv2  # noqa: E402

import pympas  # noqa: E402
from pympas.cli import main  # noqa: E402
from pympas.files import output_names  # noqa: E402
from pympas.segmentation import segment_to_folder  # noqa: E402


class RedIsCrowd(torch.nn.Module):
    """logit = 20 (R - 0.5): crowd where the red channel is bright; records the input sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x):
        self.seen.append(tuple(x.shape))
        assert x.shape[-1] % 32 == 0 and x.shape[-2] % 32 == 0, "input not padded to 32"
        return 20.0 * (x[:, :1] - 0.5)


def _video(t=7, h=37, w=50, seed=0) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB with a bright-red square moving right on a dark noisy background."""
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 100, (t, h, w, 3), dtype=np.uint8)
    for i in range(t):
        v[i, 5:20, 3 + 4 * i : 15 + 4 * i, 0] = 230
    return v


def test_masks_follow_the_model_on_every_frame_and_are_cropped_back_to_frame_size():
    video = _video()
    model = RedIsCrowd()
    out = list(pympas.segment(model, video, device="cpu", batch_size=3))
    assert [i for i, _ in out] == list(range(7))
    assert all(m.shape == (37, 50) and m.dtype == bool for _, m in out)
    for i, m in out:
        np.testing.assert_array_equal(m, video[i, :, :, 0] > 127)
    assert [s[0] for s in model.seen] == [3, 3, 1]  # batches of 3, last one partial
    assert model.seen[0][1:] == (3, 64, 64)


def test_threshold_cuts_the_sigmoid_probability():
    video = np.zeros((2, 8, 8, 3), np.uint8)
    video[:, :, :4, 0] = 140  # logit 20 (140/255 - 0.5) = 0.98 -> p = 0.727
    video[:, :, 4:, 0] = 200  # logit 5.69 -> p = 0.9966
    m50 = dict(pympas.segment(RedIsCrowd(), video, device="cpu"))[0]
    m90 = dict(pympas.segment(RedIsCrowd(), video, device="cpu", threshold=0.9))[0]
    assert m50.all()
    assert not m90[:, :4].any() and m90[:, 4:].all()
    p = dict(pympas.segment(RedIsCrowd(), video, device="cpu", probabilities=True))[1]
    assert p.dtype == np.float32
    np.testing.assert_allclose(p[0, 0], 1 / (1 + np.exp(-20 * (140 / 255 - 0.5))), rtol=1e-5)


def test_frames_are_read_lazily_so_memory_stays_bounded():
    read = []

    def frames():
        for i, f in enumerate(_video(t=40)):
            read.append(i)
            yield f

    stream = pympas.segment(RedIsCrowd(), frames(), device="cpu", batch_size=4)
    assert read == []  # nothing read before the first mask is asked for
    next(stream)
    assert len(read) <= 5  # one batch (plus the look-ahead of the reader)
    assert sum(1 for _ in stream) == 39


def test_bad_arguments_are_errors_naming_them(tmp_path):
    with pytest.raises(ValueError, match="threshold"):
        pympas.segment(RedIsCrowd(), _video(), threshold=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        pympas.segment(RedIsCrowd(), _video(), batch_size=0)
    with pytest.raises(ValueError, match=r"nope\.mp4"):
        pympas.segment(RedIsCrowd(), tmp_path / "nope.mp4")
    with pytest.raises(ValueError, match=r"checkpoint .*missing\.pt does not exist"):
        next(pympas.segment(tmp_path / "missing.pt", _video()))
    with pytest.raises(TypeError, match="checkpoint_or_model"):
        next(pympas.segment(42, _video()))


def _write_video(path: Path, frames_rgb: np.ndarray) -> Path:
    h, w = frames_rgb.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    assert writer.isOpened()
    for f in frames_rgb:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_segment_to_folder_writes_0_255_pngs_and_an_overlay_video(tmp_path):
    video = _write_video(tmp_path / "clip.avi", _video(t=6, h=40, w=64))
    out = tmp_path / "out" / "clip"
    n = segment_to_folder(RedIsCrowd(), video, out, overlay_video=True, device="cpu", batch_size=4)
    assert n == 6
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [f"{i:06d}.png" for i in range(6)]
    m = cv2.imread(str(out / "000002.png"), cv2.IMREAD_UNCHANGED)
    assert m.dtype == np.uint8 and m.ndim == 2 and set(np.unique(m)) == {0, 255}
    assert (m[5:20, 14:22] == 255).all() and (m[25:, :] == 0).all()  # the square of frame 2
    overlay = next(out.glob("overlay.*"))
    cap = cv2.VideoCapture(str(overlay))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 6
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip"]  # no temporary folder left


def test_a_failure_midway_leaves_no_output_folder(tmp_path):
    class Broken(RedIsCrowd):
        def forward(self, x):
            if len(self.seen) == 1:
                raise RuntimeError("boom")
            return super().forward(x)

    with pytest.raises(RuntimeError, match="boom"):
        segment_to_folder(Broken(), _video(t=8), tmp_path / "out" / "v", device="cpu", batch_size=4)
    assert list((tmp_path / "out").iterdir()) == []


def test_output_names_use_the_scene_folder_when_file_stems_collide(tmp_path):
    for s in ("corridor", "plaza"):
        (tmp_path / s).mkdir()
        (tmp_path / s / "video.mp4").write_bytes(b"")
    assert output_names([str(tmp_path / "a.mp4"), str(tmp_path / "b.avi")]) == ["a", "b"]
    assert output_names([str(tmp_path / "corridor" / "video.mp4")]) == ["corridor"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.mp4").write_bytes(b"")
    (tmp_path / "b" / "x.mp4").write_bytes(b"")
    assert output_names([str(tmp_path / "a" / "x.mp4"), str(tmp_path / "b" / "x.mp4")]) == [
        "a",
        "b",
    ]
    names = output_names([str(tmp_path / s / "video.mp4") for s in ("corridor", "plaza")])
    assert names == ["corridor", "plaza"]


def test_cli_segments_several_videos_and_reports_a_bad_one(tmp_path, capsys):
    model_mod = pytest.importorskip("pympas.model", reason="pympas.model (train) is not merged yet")
    pytest.importorskip("pympas.train", reason="pympas.train (load_model) is not merged yet")
    from pympas._version import __version__

    net = model_mod.MPASNet("w18-small")
    ckpt = tmp_path / "tiny.pt"
    torch.save(
        {"model": net.state_dict(), "optimizer": {}, "step": 0,
         "config": {"arch": "w18-small"}, "pympas_version": __version__},
        ckpt,
    )  # fmt: skip
    good = _write_video(tmp_path / "good.avi", _video(t=3, h=40, w=48))
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video")
    rc = main(["segment", str(ckpt), str(good), str(bad), "-o", str(tmp_path / "out"),
               "--device", "cpu"])  # fmt: skip
    assert rc == 1
    err = capsys.readouterr().err
    assert "bad.avi" in err and "1 of 2 videos failed" in err
    masks = sorted((tmp_path / "out" / "good").glob("*.png"))
    assert len(masks) == 3
    assert cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED).shape == (40, 48)
    assert not (tmp_path / "out" / "bad").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
def test_segment_on_cuda_with_a_cpu_only_torch_is_a_one_line_error(tmp_path, capsys):
    model_mod = pytest.importorskip("pympas.model")
    from pympas._version import __version__

    ckpt = tmp_path / "tiny.pt"
    torch.save({"model": model_mod.MPASNet("w18-small").state_dict(), "optimizer": {},
                "step": 0, "config": {"arch": "w18-small"}, "pympas_version": __version__},
               ckpt)  # fmt: skip
    video = _write_video(tmp_path / "v.avi", _video(t=3, h=40, w=48))
    assert main(["segment", str(ckpt), str(video), "-o", str(tmp_path / "out"),
                 "--device", "cuda"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("pympas segment: error: device 'cuda' was asked for, but CUDA is not")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


class CoarseRedIsCrowd(torch.nn.Module):
    """RedIsCrowd seen at a quarter of the input resolution, as MPASNet's head is (logits of
    4x4 averages, upsampled): thin structures blur away unless the frame is enlarged."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x):
        self.seen.append(tuple(x.shape))
        coarse = torch.nn.functional.avg_pool2d(20.0 * (x[:, :1] - 0.46), 4)
        return torch.nn.functional.interpolate(coarse, size=x.shape[-2:], mode="nearest")


def _thin_people(t=2, h=40, w=64) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB: vertical bright-red bars 2 px wide on black, 8 px apart."""
    v = np.zeros((t, h, w, 3), np.uint8)
    for x0 in range(3, w - 2, 8):
        v[:, 8:32, x0 : x0 + 2, 0] = 230
    return v


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_scale_runs_the_network_on_enlarged_frames_and_returns_masks_at_frame_size():
    video = _thin_people()
    model = CoarseRedIsCrowd()
    out = dict(pympas.segment(model, video, device="cpu", batch_size=2, scale=4.0))
    assert model.seen == [(2, 3, 160, 256)]  # 40x64 x 4, already a multiple of 32
    truth = video[0, :, :, 0] > 127
    assert all(m.shape == truth.shape and m.dtype == bool for m in out.values())
    coarse = dict(pympas.segment(CoarseRedIsCrowd(), video, device="cpu", scale=1.0))
    # at scale 1 the 2 px bars vanish in the 4x4 averages; enlarged, the network resolves them
    assert _iou(coarse[0], truth) < 0.3
    assert _iou(out[0], truth) > 0.6


def test_scale_one_and_scale_two_agree_on_a_pixelwise_model_away_from_edges():
    video = np.zeros((3, 48, 64, 3), np.uint8)
    video[:, 8:40, 16:48, 0] = 230  # one large red block
    one = dict(pympas.segment(RedIsCrowd(), video, device="cpu"))
    two = dict(pympas.segment(RedIsCrowd(), video, device="cpu", scale=2.0))
    for i in range(3):
        np.testing.assert_array_equal(one[i], two[i])


class ScaleProbe(torch.nn.Module):
    """logit = the input's width / 100 everywhere: tells which scale a pass ran at."""

    def forward(self, x):
        return torch.full_like(x[:, :1], x.shape[-1] / 100.0)


def test_several_scales_average_their_logits():
    video = np.zeros((2, 32, 64, 3), np.uint8)  # widths 64 and 128: both multiples of 32
    p1 = dict(pympas.segment(ScaleProbe(), video, device="cpu", probabilities=True))[0]
    p12 = dict(pympas.segment(ScaleProbe(), video, device="cpu", probabilities=True,
                              scale=[1.0, 2.0]))[0]  # fmt: skip
    np.testing.assert_allclose(p1, 1 / (1 + np.exp(-0.64)), rtol=1e-5)
    np.testing.assert_allclose(p12, 1 / (1 + np.exp(-(0.64 + 1.28) / 2)), rtol=1e-5)


@pytest.mark.parametrize("bad", [0.0, -1.0, 0.1, 9.0, float("nan"), [1.0, 0.0], []])
def test_a_scale_outside_its_range_is_an_error_naming_it(bad):
    with pytest.raises(ValueError, match="scale"):
        pympas.segment(RedIsCrowd(), _video(), device="cpu", scale=bad)


def test_working_scale_brings_crm_discs_to_the_papers_radius():
    from pympas.segmentation import working_scale

    assert working_scale(20.0) == 1.0
    assert working_scale(10.0) == 2.0
    with pytest.raises(ValueError, match="crm_radius"):
        working_scale(0.0)


def test_cli_scale_outside_its_range_is_refused_before_any_output(tmp_path, capsys):
    video = _write_video(tmp_path / "v.avi", _video(t=3, h=40, w=48))
    ckpt = tmp_path / "never-read.pt"
    ckpt.write_bytes(b"")
    rc = main(["segment", str(ckpt), str(video), "-o", str(tmp_path / "out"), "--scale", "0"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--scale must lie in" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cli_scales_write_masks_at_the_videos_size(tmp_path):
    from helpers.checkpoints import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    video = _write_video(tmp_path / "v.avi", _video(t=3, h=40, w=48))
    assert main(["segment", str(ckpt), str(video), "-o", str(tmp_path / "out"),
                 "--device", "cpu", "--scale", "1", "2", "-q"]) == 0  # fmt: skip
    masks = sorted((tmp_path / "out" / "v").glob("*.png"))
    assert len(masks) == 3
    assert all(cv2.imread(str(m), cv2.IMREAD_UNCHANGED).shape == (40, 48) for m in masks)


def test_auto_scale_follows_the_crm_radius_the_model_was_trained_at():
    video = np.zeros((2, 32, 64, 3), np.uint8)

    def probability(crm_radius, **kw):
        model = ScaleProbe()
        model.crm_radius = crm_radius
        return dict(pympas.segment(model, video, device="cpu", probabilities=True, **kw))[0]

    at_scale_1 = 1 / (1 + np.exp(-0.64))
    np.testing.assert_allclose(probability(None), at_scale_1, rtol=1e-5)  # unknown: scale 1
    np.testing.assert_allclose(probability(20.0), at_scale_1, rtol=1e-5)  # the paper's radius
    both = 1 / (1 + np.exp(-(0.64 + 1.28) / 2))  # radius 10: scales 1 and 2, logits averaged
    np.testing.assert_allclose(probability(10.0), both, rtol=1e-5)
    np.testing.assert_allclose(probability(10.0, scale=1.0), at_scale_1, rtol=1e-5)


def test_auto_scales_stay_within_the_scale_range():
    from pympas.segmentation import MAX_SCALE, MIN_SCALE, auto_scales

    assert auto_scales(10.0) == (1.0, 2.0)
    assert auto_scales(1.0) == (1.0, MAX_SCALE)  # 20 px / 1 px would be 20
    assert auto_scales(1000.0) == (1.0, MIN_SCALE)


def test_a_checkpoint_loads_with_its_crm_radius_and_the_cli_says_which_scales_it_uses(
    tmp_path, capsys
):
    from helpers.checkpoints import tiny_checkpoint

    from pympas.model.checkpoint import load_model

    old = tiny_checkpoint(tmp_path / "old.pt")  # written before checkpoints recorded it
    assert load_model(old).crm_radius is None
    state = torch.load(old, weights_only=False)
    torch.save({**state, "crm_radius": 10.0}, tmp_path / "r10.pt")
    assert load_model(tmp_path / "r10.pt").crm_radius == 10.0
    video = _write_video(tmp_path / "v.avi", _video(t=2, h=40, w=48))
    rc = main(["segment", str(tmp_path / "r10.pt"), str(video), "-o", str(tmp_path / "out"),
               "--device", "cpu", "-q"])  # fmt: skip
    assert rc == 0
    assert "segmenting at scales 1, 2" in capsys.readouterr().out
    assert len(list((tmp_path / "out" / "v").glob("*.png"))) == 2


def test_cli_scale_that_is_not_a_number_is_refused_naming_it(tmp_path, capsys):
    video = _write_video(tmp_path / "v.avi", _video(t=2, h=40, w=48))
    ckpt = tmp_path / "never-read.pt"
    ckpt.write_bytes(b"")
    rc = main(["segment", str(ckpt), str(video), "-o", str(tmp_path / "o"), "--scale", "1", "x"])
    assert rc == 2
    assert "--scale must be auto or numbers, got 1 x" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
