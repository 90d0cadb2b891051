"""Crowd-segmentation accuracy as in the paper's Table 1: IoU per scene and mIoU over scenes.

For each scene, the intersection and the union of the crowd class are summed over the scene's
annotated (ground-truth) frames and divided once::

    IoU(scene) = sum_f |P_f & G_f| / sum_f |P_f | G_f|        mIoU = mean over scenes

so a frame with a large crowd weighs more than a frame with a small one, as in the paper.

Inputs
------
``pred`` and ``gt`` each name the masks of one or several scenes:

- a folder of frame files: PNG masks (nonzero = crowd; 0/255 as written by ``pympas segment``,
  ``pympas label`` and ``pympas synth``) or, for ground truth, labelme JSON files whose shapes
  (polygons, rectangles, circles) with the label ``label`` are filled into masks;
- a folder of scene sub-folders (one scene per sub-folder, matched by name between ``pred`` and
  ``gt``). A scene folder may also be a synthetic scene written by ``pympas synth`` (its masks in
  ``gt/``) or a label set written by ``pympas label`` (its masks in ``masks/``);
- a mapping ``scene name -> folder`` or ``scene name -> {frame index: (H, W) mask array}``.

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

import argparse
import csv
import io
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np

from pympas.report import write_text_atomic

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
PAPER_TABLE1_MIOU = {"CM+CRM": 0.4949, "MPASNet": 0.6447}

FrameSource = Union[str, os.PathLike, Mapping[Any, np.ndarray]]  # noqa: UP007 (a runtime alias)
SceneSource = Union[str, os.PathLike, Mapping[str, FrameSource]]  # noqa: UP007


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
# reading masks


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask image as (H, W) bool (nonzero in any channel = crowd)."""
    import cv2

    path = Path(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if img is None:
        raise ValueError(f"cannot read mask image {path}")
    if img.ndim == 3:
        img = img.any(axis=2)
    return np.asarray(img) != 0


def labelme_mask(
    path: str | os.PathLike,
    label: str | Iterable[str] = "crowd",
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Fill the shapes of a labelme JSON file whose label is ``label`` into an (H, W) bool mask.

    Polygons are filled with ``cv2.fillPoly`` (vertices at sub-pixel precision), rectangles from
    their two corners, circles from their centre and a point on the rim. The size comes from the
    file's ``imageHeight``/``imageWidth``; ``shape`` (H, W) is used when the file has none and
    must agree with it when it has. Shapes with other labels are ignored.
    """
    import cv2

    path = Path(path)
    labels = {label} if isinstance(label, str) else set(label)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read labelme JSON {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise ValueError(f"{path} is not a labelme annotation (no 'shapes' list)")
    h, w = doc.get("imageHeight"), doc.get("imageWidth")
    if h is None or w is None:
        if shape is None:
            raise ValueError(f"{path} has no imageHeight/imageWidth and no image size was given")
        h, w = shape
    elif shape is not None and (int(h), int(w)) != tuple(shape):
        raise ValueError(
            f"size mismatch: {path} is {int(h)}x{int(w)} (HxW), the prediction is "
            f"{shape[0]}x{shape[1]}"
        )
    mask = np.zeros((int(h), int(w)), np.uint8)
    shift = 4  # sub-pixel vertex precision for cv2 drawing (1/16 pixel)
    for i, s in enumerate(doc["shapes"]):
        if not isinstance(s, dict) or s.get("label") not in labels:
            continue
        kind = s.get("shape_type") or "polygon"
        try:
            pts = np.asarray(s["points"], np.float64).reshape(-1, 2)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: shape {i} has no valid 'points'") from exc
        if not np.all(np.isfinite(pts)):
            raise ValueError(f"{path}: shape {i} has non-finite points")
        fixed = np.round(pts * (1 << shift)).astype(np.int32)
        if kind == "polygon":
            if len(pts) < 3:
                raise ValueError(f"{path}: polygon {i} has fewer than 3 points")
            cv2.fillPoly(mask, [fixed], 1, cv2.LINE_8, shift)
        elif kind == "rectangle":
            if len(pts) != 2:
                raise ValueError(f"{path}: rectangle {i} needs 2 points, has {len(pts)}")
            (x0, y0), (x1, y1) = fixed
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.int32)
            cv2.fillPoly(mask, [corners], 1, cv2.LINE_8, shift)
        elif kind == "circle":
            if len(pts) != 2:
                raise ValueError(f"{path}: circle {i} needs 2 points, has {len(pts)}")
            r = round(float(np.hypot(*(pts[1] - pts[0]))) * (1 << shift))
            cv2.circle(mask, (int(fixed[0, 0]), int(fixed[0, 1])), r, 1, -1, cv2.LINE_8, shift)
        else:
            raise ValueError(f"{path}: shape {i} has unsupported shape_type {kind!r} for a mask")
    return mask.astype(bool)


def _frame_key(stem: str) -> int | str:
    return int(stem) if stem.isdigit() else stem


def _mask_files(folder: Path, allow_json: bool) -> dict[int | str, Path]:
    """Frame key -> file for the mask files (and labelme JSON files) directly in ``folder``."""
    found: dict[int | str, Path] = {}
    for p in sorted(folder.iterdir()):
        suffix = p.suffix.lower()
        if not p.is_file() or not (suffix in MASK_SUFFIXES or (allow_json and suffix == ".json")):
            continue
        key = _frame_key(p.stem)
        if key in found:
            raise ValueError(f"two files for frame {key!r}: {found[key]} and {p}")
        found[key] = p
    return found


def _resolve_scene_dir(folder: Path) -> Path:
    """Where a scene folder's masks are: ``gt/`` of a synthetic scene, ``masks/`` of a label set,
    or the folder itself."""
    for sub in ("gt", "masks"):
        if (folder / sub).is_dir():
            return folder / sub
    return folder


def _scenes_of(source: SceneSource, role: str, allow_json: bool) -> dict[str, Any]:
    """Scene name -> frame source (a folder of masks, or a mapping frame index -> array)."""
    if isinstance(source, Mapping):
        if not source:
            raise ValueError(f"{role} has no scenes")
        out = {}
        for name, frames in source.items():
            if isinstance(frames, Mapping):
                out[str(name)] = frames
            elif isinstance(frames, (str, os.PathLike)):
                folder = Path(frames)
                if not folder.is_dir():
                    raise ValueError(f"{role} scene {name!r}: {folder} is not a folder")
                out[str(name)] = _resolve_scene_dir(folder)
            else:
                raise TypeError(
                    f"{role} scene {name!r} must be a folder or a mapping frame -> mask, "
                    f"got {type(frames).__name__}"
                )
        return out
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"{role} must be a folder or a mapping scene -> folder, got {type(source).__name__}"
        )
    root = Path(source)
    if not root.is_dir():
        raise ValueError(f"{role} folder {root} does not exist or is not a folder")
    scene_dir = _resolve_scene_dir(root)
    if _mask_files(scene_dir, allow_json):
        name = root.parent.name if root.name in ("gt", "masks") else root.name
        return {name or "scene": scene_dir}
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    scenes = {p.name: _resolve_scene_dir(p) for p in subs}
    scenes = {k: v for k, v in scenes.items() if _mask_files(v, allow_json)}
    if not scenes:
        kinds = "PNG masks or labelme JSON files" if allow_json else "PNG masks"
        raise ValueError(f"{role} folder {root} holds no {kinds}, nor scene sub-folders with them")
    return scenes


def _frames_of(frames: Any, allow_json: bool) -> dict[int | str, Any]:
    if isinstance(frames, Mapping):
        return {(_frame_key(k) if isinstance(k, str) else int(k)): v for k, v in frames.items()}
    return _mask_files(frames, allow_json)


def _load(
    item: Any, what: str, label: str | Iterable[str], shape: tuple[int, int] | None
) -> np.ndarray:
    if isinstance(item, Path):
        if item.suffix.lower() == ".json":
            return labelme_mask(item, label, shape)
        mask = read_mask(item)
    else:
        mask = np.asarray(item)
        if mask.ndim != 2:
            raise ValueError(f"{what} must be an (H, W) mask, got shape {mask.shape}")
        mask = mask != 0
    if shape is not None and mask.shape != tuple(shape):
        raise ValueError(
            f"size mismatch: {what} is {mask.shape[0]}x{mask.shape[1]} (HxW), "
            f"expected {shape[0]}x{shape[1]}"
        )
    return mask


def _describe(item: Any, scene: str, key: Any, role: str) -> str:
    return str(item) if isinstance(item, Path) else f"{role} frame {key!r} of scene {scene!r}"


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
    """
    inter = union = 0
    for p, g in zip(pred_masks, gt_masks, strict=True):
        p, g = np.asarray(p, bool), np.asarray(g, bool)
        if p.shape != g.shape:
            raise ValueError(f"size mismatch: prediction {p.shape} vs ground truth {g.shape}")
        inter += int(np.count_nonzero(p & g))
        union += int(np.count_nonzero(p | g))
    return _ratio(inter, union, empty), inter, union


def _ratio(inter: int, union: int, empty: str) -> float:
    if union == 0:
        return 1.0 if empty == "one" else math.nan
    return inter / union


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
            sizes, an unreadable file.
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
        inter = union = npred = ngt = 0
        for key, gitem in gframes.items():
            pitem = pframes[key]
            p = _load(pitem, _describe(pitem, name, key, "pred"), label, None)
            g = _load(gitem, _describe(gitem, name, key, "gt"), label, p.shape)
            inter += int(np.count_nonzero(p & g))
            union += int(np.count_nonzero(p | g))
            npred += int(np.count_nonzero(p))
            ngt += int(np.count_nonzero(g))
        scores.append(
            SceneScore(name, _ratio(inter, union, empty), inter, union, len(gframes), npred, ngt)
        )
    counted = [s.iou for s in scores if not math.isnan(s.iou)]
    miou = float(np.mean(counted)) if counted else math.nan
    return Evaluation(tuple(scores), miou)


# --------------------------------------------------------------------------------------------
# CLI


def run(args: argparse.Namespace) -> int:
    try:
        result = evaluate(
            args.pred, args.gt, label=args.label, strict=args.strict, empty=args.empty
        )
    except (ValueError, TypeError) as exc:
        print(f"pympas evaluate: error: {exc}", file=sys.stderr)
        return 1
    print(result.table())
    if args.json:
        result.write_json(args.json)
        print(f"wrote {args.json}")
    if args.csv:
        result.write_csv(args.csv)
        print(f"wrote {args.csv}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="IoU per scene and mIoU of predicted crowd masks against ground truth",
        description="IoU of the crowd class per scene (intersection and union summed over the "
        "annotated frames) and mIoU over scenes, as in the paper's Table 1.",
    )
    p.add_argument(
        "pred", metavar="PRED_DIR", help="predicted masks (folder, or scene sub-folders)"
    )
    p.add_argument(
        "gt",
        metavar="GT_DIR",
        help="ground truth: PNG masks or labelme JSON (or scene sub-folders)",
    )
    p.add_argument("--json", metavar="OUT", help="also write the scores as JSON")
    p.add_argument("--csv", metavar="OUT", help="also write the scores as CSV")
    p.add_argument("--label", default="crowd", help="labelme shape label of crowd (default crowd)")
    p.add_argument(
        "--strict", action="store_true", help="a predicted frame without ground truth is an error"
    )
    p.add_argument(
        "--empty",
        choices=("one", "exclude"),
        default="one",
        help="IoU of a scene with no crowd in prediction and ground truth: 1.0 (one) or left "
        "out of the mIoU (exclude); default one",
    )
    p.set_defaults(func=run)
