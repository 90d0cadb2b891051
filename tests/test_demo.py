"""``pympas demo --quick`` end to end: synth -> label -> train -> segment -> evaluate -> report."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("jupedsim")

from pympas.cli import main
from pympas.demo import CPU, GPU, QUICK, settings_for


def test_quick_demo_writes_masks_scores_and_an_offline_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "-o", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    report = out / "report.html"
    assert f"report: {report.resolve()}" in printed

    # a mask for every frame of the scene, 0/255 at the video size
    masks = sorted((out / "pred" / "corridor").glob("*.png"))
    assert [m.name for m in masks] == [f"{i:06d}.png" for i in range(QUICK.frames)]
    m = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
    assert m.shape == (QUICK.height, QUICK.width) and set(np.unique(m)) <= {0, 255}
    assert (out / "run" / "checkpoint_last.pt").is_file()

    # scores on both ground truths: the pseudo-labels overlap them (motion finds the walkers),
    # and the annotator-like regions hold the exact silhouettes
    both = json.loads((out / "scores.json").read_text())
    assert set(both) == {"exact", "regions"}
    for scores in both.values():
        assert set(scores) == {"CM+CRM", "MPASNet", "MPASNet (every frame)"}
        for ev in scores.values():
            assert 0.0 <= ev["miou"] <= 1.0
        crm = scores["CM+CRM"]["scenes"][0]
        assert crm["scene"] == "corridor" and crm["gt_pixels"] > 0 and crm["iou"] > 0.05
        assert scores["MPASNet"]["scenes"][0]["frames"] == QUICK.frames // QUICK.stride // 2
        assert scores["MPASNet (every frame)"]["scenes"][0]["frames"] == QUICK.frames
    exact, regions = (both[k]["CM+CRM"]["scenes"][0] for k in ("exact", "regions"))
    assert regions["gt_pixels"] > exact["gt_pixels"]
    margin = both["exact"]["MPASNet"]["miou"] - both["exact"]["CM+CRM"]["miou"]
    assert f"{margin:+.3f} on the exact silhouettes" in printed

    # the report: the margin first, one Fig. 4 strip of 6 inline images (both ground truths),
    # an IoU table per ground truth, an SVG loss curve
    html = report.read_text()
    assert html.index("MPASNet minus its own pseudo-labels") < html.index("<h2>")
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 6
    for caption in (
        "motion particles",
        "CM+CRM pseudo-label",
        "MPASNet prediction",
        "ground truth: exact silhouettes",
        "ground truth: annotator-like regions",
    ):
        assert caption in html
    assert html.count("<polyline") == 3  # L, L_SEG, L_AIR
    for kind in ("exact", "regions"):
        assert f"{both[kind]['CM+CRM']['miou']:.4f}" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched when opened

    # a second run into the same folder is refused, not mixed with the first
    assert main(["demo", "--quick", "-o", str(out), "--device", "cpu"]) == 1
    assert "already holds a demo run" in capsys.readouterr().err


def test_settings_use_w48_on_gpu_and_w18_small_on_cpu():
    assert settings_for(True, "cuda") is QUICK
    assert settings_for(False, "cuda:0") is GPU and GPU.arch == "w48"
    assert settings_for(False, "cpu") is CPU and CPU.arch == "w18-small"
    assert CPU.crm_radius == pytest.approx(20 * CPU.width / 640)


def test_frames_are_segmented_at_their_size_and_the_papers_working_scale_unless_given():
    import dataclasses

    assert CPU.width == 320 and CPU.inference_scales == pytest.approx((1.0, 2.0))  # and 640x480
    assert GPU.width == 640 and GPU.inference_scales == (1.0,)
    assert dataclasses.replace(CPU, scale=1.5).inference_scales == (1.5,)
    assert dataclasses.replace(CPU, scale=(1.0, 3.0)).inference_scales == (1.0, 3.0)
    assert dataclasses.replace(CPU, radius=5.0).inference_scales == pytest.approx((1.0, 4.0))
    with pytest.raises(ValueError, match="scale"):
        _ = dataclasses.replace(CPU, scale=0.0).inference_scales


def test_split_alternate_alternates_training_and_held_out_frames():
    from pympas.labelset import LabelSet, Particles

    n = 5
    empty = Particles(*(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros(0, int),
                        np.zeros(0, bool)))  # fmt: skip
    ls = LabelSet(
        source="v", frame_indices=np.arange(n) * 20, frames=np.zeros((n, 4, 4, 3), np.uint8),
        masks=np.arange(n)[:, None, None] * np.ones((1, 4, 4), bool) > 1,
        particles=[empty] * n, params={}, counts=[{"kept": i} for i in range(n)],
    )  # fmt: skip
    train, held = ls.split_alternate()
    assert train.frame_indices.tolist() == [0, 40, 80] and held.frame_indices.tolist() == [20, 60]
    assert [c["kept"] for c in held.counts] == [1, 3]
    assert held.masks.shape == (2, 4, 4) and not held.masks[0].any() and held.masks[1].all()
    with pytest.raises(ValueError, match="at least 2"):
        train.split_alternate()[1].split_alternate()
