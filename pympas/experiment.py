"""The protocol of ``pympas demo`` and of the accuracy benchmark (``benchmarks/tables.py``).

A synthetic scene (exact ground truth) is pseudo-labelled; alternate labelled frames are split
(:meth:`pympas.LabelSet.split_alternate`): frames 0, 2, 4, ... train MPASNet on their
pseudo-labels only, frames 1, 3, 5, ... are the held-out test frames on which the
pseudo-labels (CM+CRM) and the network are scored against the ground truth. This module holds
the pieces both use: the run sizes, rendering, ground truth, training config, predictions,
the training log and the Fig. 4 strip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pympas.background import BG_LABEL
from pympas.config import TrainConfig
from pympas.crm import RADIUS
from pympas.files import read_mask
from pympas.segmentation import auto_scales, check_scale, segment

__all__ = [
    "GROUND_TRUTHS",
    "ExperimentSettings",
    "fig4_strip",
    "predict_frames",
    "read_gt",
    "read_loss_log",
    "synthesize",
    "train_config",
]


@dataclass(frozen=True)
class ExperimentSettings:
    """Sizes of one run of the protocol (the demo, a benchmark table cell). ``radius`` None
    scales the paper's 20 px at 640 px width."""

    scenes: tuple[str, ...]
    frames: int  # rendered frames per scene
    width: int
    height: int
    stride: int  # one labelled frame in ``stride``
    arch: str
    steps: int
    batch_size: int
    crop: int
    radius: float | None = None
    density: float = 1.0
    seed: int = 0
    scale: float | tuple[float, ...] | None = None

    @property
    def crm_radius(self) -> float:
        """CRM disc radius in pixels (paper: 20 at its resolution; scaled with the width here)."""
        return self.radius if self.radius is not None else RADIUS * self.width / 640.0

    @property
    def inference_scales(self) -> tuple[float, ...]:
        """The scales frames are segmented at, logits averaged (``pympas.segment(scale=...)``):
        ``scale`` if given, else the label sets' own resolution and the paper's working scale of
        the CRM radius (:func:`pympas.segmentation.auto_scales`, what ``segment`` does by
        default with the trained checkpoint): (1, 2) for 320x240 frames, (1,) at 640x480."""
        if self.scale is not None:
            return check_scale(self.scale)
        return auto_scales(self.crm_radius)


#: the two ground truths of a synthetic scene: kind -> (folder, caption). The paper's ground truth
#: was drawn with labelme as crowd regions; the exact silhouettes are the strict one.
GROUND_TRUTHS = {
    "exact": ("gt", "exact silhouettes"),
    "regions": ("gt_regions", "annotator-like regions"),
}


def synthesize(scenario: str, out_dir: Path, s: ExperimentSettings) -> Path:
    """Render one scene with ``pympas.synth`` into ``out_dir``; returns its video file."""
    import pympas.synth as synth

    info = synth.render_scene(
        scenario, out_dir, frames=s.frames, size=(s.width, s.height), seed=s.seed,
        density=s.density,
    )  # fmt: skip
    return Path(info.video)


def read_gt(scene_dir: Path, indices: Any, kind: str = "exact") -> dict[int, np.ndarray]:
    """Ground-truth masks of a synthetic scene, frame index -> (H, W) bool: ``kind`` "exact"
    (``gt/``, person silhouettes) or "regions" (``gt_regions/``, annotator-like crowd regions,
    see :mod:`pympas.synth.annotation`)."""
    if kind not in GROUND_TRUTHS:
        raise ValueError(f"kind must be one of {list(GROUND_TRUTHS)}, got {kind!r}")
    folder = Path(scene_dir) / GROUND_TRUTHS[kind][0]
    return {int(i): read_mask(folder / f"{int(i):06d}.png") for i in indices}


def predict_frames(
    model: Any, labels: Any, device: str, batch_size: int, scale: float | tuple[float, ...] = 1.0
) -> dict[int, np.ndarray]:
    """MPASNet masks of a LabelSet's frames, segmented at ``scale`` (one or several, see
    :func:`pympas.segment`): frame index -> (H, W) bool."""
    stream = segment(model, labels.frames, device=device, batch_size=batch_size, scale=scale)
    return {int(labels.frame_indices[j]): m for j, m in stream}


def train_config(
    labelsets: list[str], out: Path, s: ExperimentSettings, device: str, **kw: Any
) -> TrainConfig:
    """The TrainConfig of a run of the protocol (CPU-friendly loader, quiet progress)."""
    return TrainConfig(
        labelsets=labelsets, out=str(out), arch=s.arch, steps=s.steps, batch_size=s.batch_size,
        crop=s.crop, device=device, save_every=s.steps, log_every=max(1, s.steps // 50),
        seed=s.seed, num_workers=0, progress=False, **kw,
    )  # fmt: skip


def read_loss_log(run_dir: Path) -> dict[str, list[float]]:
    """Columns step, loss, l_seg, l_air of a training run's log.jsonl."""
    cols: dict[str, list[float]] = {"step": [], "loss": [], "l_seg": [], "l_air": []}
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return cols
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            for k in cols:
                cols[k].append(float(rec.get(k, float("nan"))))
    return cols


def fig4_strip(
    labels: Any,
    i: int,
    predictions: list[tuple[str, np.ndarray]],
    gts: list[tuple[str, np.ndarray]],
    height: int,
    background: np.ndarray | None = None,
    bg_ignore: float = 0.0,
    bg_label: str = BG_LABEL,
) -> str:
    """A Fig. 4-style strip of the i-th frame of a LabelSet: the frame, its motion particles,
    the CM+CRM pseudo-label, with a ``background`` (H, W, 3) and ``bg_ignore`` > 0 the label
    L_SEG sees (the CRM pixels that show the stationary background made background, or with
    ``bg_label="ignore"`` grey: ignored), each (caption, (H, W) bool mask) prediction, then each
    (caption, (H, W) bool mask) ground truth."""
    from pympas.background import bg_value, ignore_background
    from pympas.draw import overlay_label, overlay_mask
    from pympas.report import image_strip

    frame = labels.frames[i]
    target = []
    if background is not None and bg_ignore > 0:
        label = ignore_background(frame, labels.masks[i], background, bg_ignore, bg_value(bg_label))
        caption = (
            "L_SEG target (grey: shows the background, ignored)"
            if bg_label == "ignore"
            else "L_SEG target (CRM pixels that show the background made background)"
        )
        target = [(caption, overlay_label(frame, label))]
    return image_strip(
        [
            ("frame", frame),
            ("motion particles (kept / outliers)", labels.overlay(i)),
            ("CM+CRM pseudo-label", overlay_mask(frame, labels.masks[i])),
            *target,
            *((name, overlay_mask(frame, mask)) for name, mask in predictions),
            *((name, overlay_mask(frame, gt, (40, 200, 40))) for name, gt in gts),
        ],
        height=height,
    )
