"""The stationary background of a fixed camera and the CRM pixels L_SEG ignores because they
show it (pympas.background, the training dataset, L_SEG)."""

from __future__ import annotations

import numpy as np
import pytest

from pympas.background import (
    IGNORE,
    MIN_FRAMES,
    bg_value,
    ignore_background,
    stationary_background,
)


def _walker_frames(n: int = 9, h: int = 24, w: int = 40) -> tuple[list[np.ndarray], np.ndarray]:
    """A textured floor and a bright 'person' (4x4) that crosses it left to right."""
    rng = np.random.default_rng(3)
    floor = rng.integers(40, 120, (h, w, 3)).astype(np.uint8)
    frames = []
    for t in range(n):
        f = floor.copy()
        x = 2 + 4 * t
        f[10:14, x : x + 4] = (250, 240, 10)
        frames.append(f)
    return frames, floor


def test_the_temporal_median_removes_a_person_who_walks_through():
    frames, floor = _walker_frames()
    assert np.array_equal(stationary_background(frames), floor)


def test_a_background_from_too_few_frames_is_refused_naming_the_frames():
    frames, _ = _walker_frames(MIN_FRAMES - 1)
    with pytest.raises(ValueError, match="frames: a background needs at least"):
        stationary_background(frames)


def test_frames_of_different_sizes_are_refused():
    frames, _ = _walker_frames()
    frames[2] = frames[2][:, :-1]
    with pytest.raises(ValueError, match="one size"):
        stationary_background(frames)


def test_crm_pixels_that_show_the_floor_are_ignored_and_the_person_stays_crowd():
    frames, _ = _walker_frames()
    frame = frames[4]  # person at columns 18..21
    disc = np.zeros(frame.shape[:2], np.uint8)
    disc[6:18, 14:26] = 1  # a CRM "disc" around the person, floor included
    label = ignore_background(frame, disc, stationary_background(frames), tau=20.0)
    assert (label[10:14, 18:22] == 1).all()  # the person
    ring = (disc == 1).copy()
    ring[10:14, 18:22] = False
    assert (label[ring] == IGNORE).all()  # the floor inside the disc
    assert (label[disc == 0] == 0).all()  # outside the disc nothing changes


def test_crm_pixels_that_show_the_floor_can_be_made_background_instead_of_ignored():
    frames, _ = _walker_frames()
    disc = np.zeros(frames[4].shape[:2], np.uint8)
    disc[6:18, 14:26] = 1
    label = ignore_background(frames[4], disc, stationary_background(frames), 20.0, value=0)
    assert (label[10:14, 18:22] == 1).all()  # the person stays crowd
    expected = np.zeros_like(disc)
    expected[10:14, 18:22] = 1
    assert np.array_equal(label, expected)  # the floor inside the disc is background
    with pytest.raises(ValueError, match="value must be 0 or 255"):
        ignore_background(frames[4], disc, stationary_background(frames), 20.0, value=1)


def test_bg_label_names_map_to_label_values_and_unknown_names_are_refused():
    assert (bg_value("background"), bg_value("ignore")) == (0, IGNORE)
    with pytest.raises(ValueError, match="bg_label must be one of"):
        bg_value("floor")


def test_tau_zero_keeps_every_crm_pixel_as_crowd_the_papers_form():
    frames, floor = _walker_frames()
    disc = np.zeros(floor.shape[:2], np.uint8)
    disc[6:18, 14:26] = 1
    label = ignore_background(frames[4], disc, floor, tau=0.0)
    assert np.array_equal(label, disc)


def test_a_negative_tau_and_mismatched_shapes_are_refused():
    frames, floor = _walker_frames()
    mask = np.zeros(floor.shape[:2], np.uint8)
    with pytest.raises(ValueError, match="tau must be >= 0"):
        ignore_background(frames[0], mask, floor, tau=-1.0)
    with pytest.raises(ValueError, match="differ"):
        ignore_background(frames[0], mask[:, :-1], floor)


# ----------------------------------------------------------------------------- training side

torch = pytest.importorskip("torch")


def _walker_labelset(directory, n: int = 9):
    from pympas.labelset import LabelSet, Particles

    frames, _ = _walker_frames(n)
    masks = []
    for t in range(n):
        m = np.zeros(frames[0].shape[:2], bool)
        x = 2 + 4 * t
        m[6:18, max(0, x - 4) : x + 8] = True  # disc-like CRM mask around the person
        masks.append(m)
    none = Particles(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros(0, np.int64),
                     np.zeros(0, bool))  # fmt: skip
    LabelSet(
        source="synthetic", frame_indices=np.arange(n), frames=np.stack(frames),
        masks=np.stack(masks), particles=[none] * n, params={},
    ).save(directory)  # fmt: skip
    return str(directory)


def test_the_dataset_marks_floor_pixels_of_crm_masks_as_ignored(tmp_path):
    from pympas.model.data import LabelSetDataset

    ls = _walker_labelset(tmp_path / "ls")
    _, y = LabelSetDataset([ls], bg_ignore=20.0, bg_label="ignore")[4]
    assert set(np.unique(y.numpy()).tolist()) == {0.0, 1.0, float(IGNORE)}
    assert (y[0, 10:14, 18:22] == 1).all()
    _, y0 = LabelSetDataset([ls], bg_ignore=0.0)[4]
    assert set(np.unique(y0.numpy()).tolist()) == {0.0, 1.0}
    # the ignore label survives the geometric augmentation (nearest-neighbour masks)
    from pympas.model.augment import GeometryParams

    geometry = GeometryParams(16, 0.9, 1.1, 0.5)
    _, ya = LabelSetDataset([ls], geometry, bg_ignore=20.0, bg_label="ignore")[(4, 7)]
    assert set(np.unique(ya.numpy()).tolist()) <= {0.0, 1.0, float(IGNORE)}


def test_the_dataset_by_default_makes_floor_pixels_of_crm_masks_background(tmp_path):
    from pympas.model.data import LabelSetDataset

    ls = _walker_labelset(tmp_path / "ls")
    _, y = LabelSetDataset([ls], bg_ignore=20.0)[4]
    _, y_ignore = LabelSetDataset([ls], bg_ignore=20.0, bg_label="ignore")[4]
    assert set(np.unique(y.numpy()).tolist()) == {0.0, 1.0}
    assert (y[0, 10:14, 18:22] == 1).all()  # the person
    assert (y[y_ignore == IGNORE] == 0).all()  # every pixel "ignore" leaves out is background
    assert torch.equal(y[y_ignore != IGNORE], y_ignore[y_ignore != IGNORE])  # nothing else moves
    with pytest.raises(ValueError, match="bg_label must be one of"):
        LabelSetDataset([ls], bg_ignore=20.0, bg_label="floor")


def test_a_labelset_too_short_for_a_background_keeps_its_masks_with_a_warning(tmp_path):
    from pympas.model.data import LabelSetDataset

    ls = _walker_labelset(tmp_path / "short", n=MIN_FRAMES - 1)
    with pytest.warns(UserWarning, match="too few for a stationary background"):
        ds = LabelSetDataset([ls], bg_ignore=20.0)
    assert ds.backgrounds == [None]
    assert set(np.unique(ds[1][1].numpy()).tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("kind", ["dice", "ce"])
def test_ignored_pixels_take_no_part_in_l_seg(kind):
    from pympas.model.losses import seg_loss

    g = torch.Generator().manual_seed(0)
    target = (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float()
    target[:, :, :3] = IGNORE
    logits = torch.randn(2, 1, 8, 8, generator=g, requires_grad=True)
    loss = seg_loss(kind, logits, target)
    (grad,) = torch.autograd.grad(loss, logits)
    assert grad[:, :, :3].abs().max() == 0  # no gradient where the label is ignored
    assert grad[:, :, 3:].abs().max() > 0
    other = logits.detach().clone()
    other[:, :, :3] = 50.0  # whatever the network says there, the loss does not change
    assert seg_loss(kind, other, target).item() == pytest.approx(loss.item(), abs=1e-6)


def test_a_negative_bg_ignore_is_refused_by_the_config_and_the_dataset(tmp_path):
    from pympas.config import TrainConfig, check_config
    from pympas.model.data import LabelSetDataset

    with pytest.raises(ValueError, match="bg_ignore must be >= 0"):
        check_config(TrainConfig(out=str(tmp_path / "run"), bg_ignore=-1.0))
    with pytest.raises(ValueError, match="bg_ignore must be >= 0"):
        LabelSetDataset([_walker_labelset(tmp_path / "ls")], bg_ignore=-1.0)


def test_an_unknown_bg_label_is_refused_by_the_config_naming_it(tmp_path):
    from pympas.config import TrainConfig, check_config

    with pytest.raises(ValueError, match=r"bg_label must be one of .* got 'floor'"):
        check_config(TrainConfig(out=str(tmp_path / "run"), bg_label="floor"))


def test_the_report_strip_shows_the_l_seg_target_only_when_background_pixels_are_ignored(tmp_path):
    from pympas.experiment import fig4_strip
    from pympas.labelset import LabelSet

    labels = LabelSet.load(_walker_labelset(tmp_path / "ls"))
    frames, _ = _walker_frames()
    gt = [("ground truth", labels.masks[4])]
    bg = stationary_background(frames)
    assert "made background" in fig4_strip(labels, 4, [], gt, 24, bg, 20.0)
    assert "grey: shows the background, ignored" in fig4_strip(
        labels, 4, [], gt, 24, bg, 20.0, "ignore"
    )
    assert "L_SEG target" not in fig4_strip(labels, 4, [], gt, 24, bg, 0.0)
    assert "L_SEG target" not in fig4_strip(labels, 4, [], gt, 24)


def test_a_run_saved_before_bg_ignore_existed_resumes_in_the_papers_form(labelset, tmp_path):
    pytest.importorskip("kornia")
    from pympas.config import TrainConfig
    from pympas.model.checkpoint import read_checkpoint
    from pympas.train import train

    tiny = dict(arch="w18-small", batch_size=1, crop=32, num_workers=0, progress=False)
    run = str(tmp_path / "old")
    train(TrainConfig(labelsets=[labelset], out=run, steps=1, bg_ignore=0.0, **tiny))
    last = tmp_path / "old" / "checkpoint_last.pt"
    ckpt = read_checkpoint(last)
    del ckpt["config"]["bg_ignore"]  # as written by pympas before the option
    torch.save(ckpt, last)
    train(TrainConfig(out=run, resume="last", steps=2, progress=False))
    assert read_checkpoint(last)["config"]["bg_ignore"] == 0.0


def test_a_run_saved_before_bg_label_existed_resumes_ignoring_the_floor(labelset, tmp_path):
    pytest.importorskip("kornia")
    from pympas.config import TrainConfig
    from pympas.model.checkpoint import read_checkpoint
    from pympas.train import train

    tiny = dict(arch="w18-small", batch_size=1, crop=32, num_workers=0, progress=False)
    run = str(tmp_path / "old")
    train(TrainConfig(labelsets=[labelset], out=run, steps=1, bg_label="ignore", **tiny))
    last = tmp_path / "old" / "checkpoint_last.pt"
    ckpt = read_checkpoint(last)
    del ckpt["config"]["bg_label"]  # as written by pympas before the option
    torch.save(ckpt, last)
    train(TrainConfig(out=run, resume="last", steps=2, progress=False))
    assert read_checkpoint(last)["config"]["bg_label"] == "ignore"
