"""Crowd-segmentation accuracy as in the paper's Table 1: IoU per scene and mIoU over scenes.

For each scene, the intersection and the union of the crowd class are summed over the scene's
annotated (ground-truth) frames and divided once::

    IoU(scene) = sum_f |P_f & G_f| / sum_f |P_f | G_f|        mIoU = mean over scenes

so a frame with a large crowd weighs more than a frame with a small one, as in the paper.

Inputs
------
``pred`` and ``gt`` each name the masks of one or several scenes:

- a folder of frame files: mask images (PNG, BMP, TIFF; 0/255 as written by ``pympas segment``,
  ``pympas label`` and ``pympas synth``) or, for ground truth, labelme JSON files whose shapes
  (polygons, rectangles, circles) with the label ``label`` are filled into masks;
- a folder of scene sub-folders (one scene per sub-folder, matched by name between ``pred`` and
  ``gt``). A scene folder may also be a synthetic scene written by ``pympas synth`` (its masks in
  ``gt/``) or a label set written by ``pympas label`` (its masks in ``masks/``);
- a mapping ``scene name -> folder`` or ``scene name -> {frame index: (H, W) mask array}``.

How a mask file is read (:func:`pympas.files.read_mask`): a pixel is crowd iff it is not black
(any gray or colour channel > 0) and, if the file has an alpha channel, not fully transparent
(alpha > 0). So an RGBA mask with an opaque black background is read as drawn, not as all
crowd; 16-bit, 0/1 and colour-on-black masks work too.

labelme shapes are clipped to the image in floating point before they are filled (a vertex at
1e9 px fills the part inside the image). A ``label`` that matches no shape in any annotation
file of a scene whose files do hold shapes is an error listing the labels found ("Crowd" is not
"crowd"); a scene whose files hold no shapes at all is an empty ground truth.

Frames are matched by file-name stem; all-digit stems are read as frame indices, so
``20.png`` matches ``000020.json``. Every ground-truth frame needs a prediction. Predicted frames
without ground truth are not annotated and are skipped (``strict=True`` makes them an error).

Empty scenes
------------
A scene whose summed union is zero (no crowd in the ground truth and none predicted, over all its
frames) is a perfect answer: its IoU is defined as 1.0 (``empty="one"``, the default). With
``empty="exclude"`` such scenes are reported with IoU NaN and left out of the mIoU. A scene with
ground-truth crowd and an empty prediction (or the reverse) has IoU 0.0.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pympas.evaluation.sources import SceneSource, _describe, _frames_of, _load, _scenes_of
from pympas.files import write_text_atomic

PAPER_TABLE1_MIOU = {"CM+CRM": 0.4949, "MPASNet": 0.6447}


@dataclass(frozen=True)
class SceneScore:
    """Accuracy on one scene: pixel counts summed over its annotated frames."""

    scene: str
    iou: float  # intersection / union; 1.0 or NaN for an empty scene (see module docstring)
    intersection: int
    union: int
    frames: int  # annotated frames evaluated
    pred_pixels: int  # crowd pixels predicted on those frames
    gt_pixels: int  # crowd pixels in the ground truth of those frames


@dataclass(frozen=True)
class Evaluation:
    """IoU per scene and their mean (the paper's mIoU)."""

    scenes: tuple[SceneScore, ...]
    miou: float  # mean IoU over the scenes that count (NaN if none does)

    def __getitem__(self, scene: str) -> SceneScore:
        for s in self.scenes:
            if s.scene == scene:
                return s
        raise KeyError(scene)

    @property
    def iou(self) -> dict[str, float]:
        """Scene name -> IoU."""
        return {s.scene: s.iou for s in self.scenes}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN written as null)."""
        return {
            "miou": _finite_or_none(self.miou),
            "scenes": [{**asdict(s), "iou": _finite_or_none(s.iou)} for s in self.scenes],
        }

    def table(self) -> str:
        """The scores as a markdown table, one row per scene and a final mIoU row."""
        lines = [
            "| scene | frames | IoU | intersection | union |",
            "|---|---:|---:|---:|---:|",
        ]
        for s in self.scenes:
            lines.append(
                f"| {s.scene} | {s.frames} | {_fmt(s.iou)} | {s.intersection} | {s.union} |"
            )
        lines.append(f"| **mIoU** | {sum(s.frames for s in self.scenes)} | {_fmt(self.miou)} | | |")
        return "\n".join(lines)

    def write_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write one row per scene and a final ``mIoU`` row to ``path`` atomically."""
        buf = io.StringIO()
        fields = list(SceneScore.__dataclass_fields__)
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(fields)
        for s in self.scenes:
            w.writerow([getattr(s, f) for f in fields])
        w.writerow(["mIoU", self.miou, "", "", sum(s.frames for s in self.scenes), "", ""])
        write_text_atomic(path, buf.getvalue())


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4f}"


def _finite_or_none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# --------------------------------------------------------------------------------------------
# the metric


def scene_iou(
    pred_masks: Iterable[np.ndarray],
    gt_masks: Iterable[np.ndarray],
    *,
    empty: Literal["one", "exclude"] = "one",
) -> tuple[float, int, int]:
    """IoU of paired (H, W) masks with intersection and union summed over the frames.

    Returns (IoU, intersection, union); an empty union gives 1.0 (``empty="one"``) or NaN.

    Example:
        >>> p = np.array([[1, 1, 0, 0]], bool); g = np.array([[0, 1, 1, 0]], bool)
        >>> scene_iou([p, p], [g, g])
        (0.3333333333333333, 2, 6)
    """
    counts = _pixel_counts(zip(pred_masks, gt_masks, strict=True))
    return _ratio(counts[0], counts[1], empty), counts[0], counts[1]


def _pixel_counts(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[int, int, int, int]:
    """(intersection, union, predicted, ground-truth) crowd pixels summed over (pred, gt) pairs
    of (H, W) masks (Table 1: a scene's IoU divides sums over its frames)."""
    inter = union = npred = ngt = 0
    for p, g in pairs:
        p, g = np.asarray(p, bool), np.asarray(g, bool)
        if p.shape != g.shape:
            raise ValueError(f"size mismatch: prediction {p.shape} vs ground truth {g.shape}")
        inter += int(np.count_nonzero(p & g))
        union += int(np.count_nonzero(p | g))
        npred += int(np.count_nonzero(p))
        ngt += int(np.count_nonzero(g))
    return inter, union, npred, ngt


def _ratio(inter: int, union: int, empty: str) -> float:
    if union == 0:
        return 1.0 if empty == "one" else math.nan
    return inter / union


def _load_pair(
    pitem: Any, gitem: Any, scene: str, key: Any, label: str | Iterable[str], found: Counter
) -> tuple[np.ndarray, np.ndarray]:
    p = _load(pitem, _describe(pitem, scene, key, "pred"), label, None)
    return p, _load(gitem, _describe(gitem, scene, key, "gt"), label, p.shape, found)


def _check_label_found(scene: str, label: str | Iterable[str], found: Counter, files: int) -> None:
    """A label that matches none of the shapes of a scene's labelme files is a typo, not an
    empty ground truth."""
    wanted = {label} if isinstance(label, str) else set(label)
    if found and not any(found[w] for w in wanted):
        labels = ", ".join(f"{name!r} ({n} shapes)" for name, n in sorted(found.items()))
        asked = label if isinstance(label, str) else sorted(wanted)
        raise ValueError(
            f"scene {scene!r}: the labelme label {asked!r} "
            f"matches no shape in its {files} annotation files; labels found: {labels} "
            "(choose one with --label / label=)"
        )


def evaluate(
    pred: SceneSource,
    gt: SceneSource,
    *,
    label: str | Iterable[str] = "crowd",
    strict: bool = False,
    empty: Literal["one", "exclude"] = "one",
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """IoU of the crowd class per scene and mIoU over scenes (paper Table 1).

    Args:
        pred: predicted masks: a folder of PNG masks (nonzero = crowd), a folder of scene
            sub-folders, or a mapping scene -> folder / {frame index: (H, W) array}.
        gt: ground truth in the same forms; folders may hold labelme JSON files instead of PNGs.
        label: the labelme shape label(s) that mark crowd.
        strict: if True, a predicted frame without ground truth is an error (by default it is
            skipped: only annotated frames are scored).
        empty: IoU of a scene with an empty union: ``"one"`` (1.0, counted in the mIoU) or
            ``"exclude"`` (NaN, left out of the mIoU).
        progress: called with each scene name before it is scored.

    Returns:
        An :class:`Evaluation`; scenes are in the ground truth's order.

    Raises:
        ValueError: naming the scene or file: a scene or ground-truth frame without prediction,
            a predicted scene (or, if ``strict``, frame) without ground truth, masks of different
            sizes, an unreadable file, a ``label`` that matches no labelme shape of a scene.
    """
    if empty not in ("one", "exclude"):
        raise ValueError(f"empty must be 'one' or 'exclude', got {empty!r}")
    gt_scenes = _scenes_of(gt, "gt", allow_json=True)
    pred_scenes = _scenes_of(pred, "pred", allow_json=False)
    if len(gt_scenes) == 1 and len(pred_scenes) == 1:
        # one scene each: pair them whatever the folders are called
        (gname, gsrc), (_, psrc) = next(iter(gt_scenes.items())), next(iter(pred_scenes.items()))
        pred_scenes = {gname: psrc}
    missing = [s for s in gt_scenes if s not in pred_scenes]
    if missing:
        raise ValueError(f"no prediction for scene(s) {missing} (predicted: {sorted(pred_scenes)})")
    extra = [s for s in pred_scenes if s not in gt_scenes]
    if extra:
        raise ValueError(f"prediction for scene(s) {extra} without ground truth")

    scores = []
    for name, gsrc in gt_scenes.items():
        if progress is not None:
            progress(name)
        gframes = _frames_of(gsrc, allow_json=True)
        pframes = _frames_of(pred_scenes[name], allow_json=False)
        if not gframes:
            raise ValueError(f"scene {name!r}: no ground-truth frames in {gsrc}")
        for key, item in gframes.items():
            if key not in pframes:
                raise ValueError(
                    f"scene {name!r}: no prediction for ground-truth frame "
                    f"{_describe(item, name, key, 'gt')}"
                )
        if strict:
            for key, item in pframes.items():
                if key not in gframes:
                    raise ValueError(
                        f"scene {name!r}: predicted frame {_describe(item, name, key, 'pred')} "
                        "has no ground truth"
                    )
        found: Counter = Counter()
        inter, union, npred, ngt = _pixel_counts(
            _load_pair(pframes[key], gitem, name, key, label, found)
            for key, gitem in gframes.items()
        )
        json_files = sum(
            isinstance(g, Path) and g.suffix.lower() == ".json" for g in gframes.values()
        )
        if json_files:
            _check_label_found(name, label, found, json_files)
        scores.append(
            SceneScore(name, _ratio(inter, union, empty), inter, union, len(gframes), npred, ngt)
        )
    counted = [s.iou for s in scores if not math.isnan(s.iou)]
    miou = float(np.mean(counted)) if counted else math.nan
    return Evaluation(tuple(scores), miou)
