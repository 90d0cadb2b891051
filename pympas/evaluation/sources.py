"""Where the masks of ``pympas evaluate`` come from: folders of PNG masks or labelme JSON,
folders of scene sub-folders (synthetic scenes, label sets), or in-memory mappings; frames
matched by file-name stem."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

import numpy as np

from pympas.evaluation.labelme import labelme_mask
from pympas.files import read_mask
from pympas.labelset import is_labelset, masks_folder

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
#: the exact ground-truth masks of a synthetic scene folder written by ``pympas synth``
SYNTH_GT = "gt"
#: mask folders named after what they hold; a scene given as one of them is named after its parent
MASK_FOLDERS = (SYNTH_GT, "gt_regions", "masks")

FrameSource = Union[str, os.PathLike, Mapping[Any, np.ndarray]]  # noqa: UP007 (a runtime alias)
SceneSource = Union[str, os.PathLike, Mapping[str, FrameSource]]  # noqa: UP007


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
    """Where a scene folder's masks are: ``gt/`` of a synthetic scene, the pseudo-masks of a
    label set (:mod:`pympas.labelset`), or the folder itself."""
    if (folder / SYNTH_GT).is_dir():
        return folder / SYNTH_GT
    if is_labelset(folder):
        return masks_folder(folder)
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
        inner = scene_dir == root and root.name in MASK_FOLDERS
        name = root.parent.name if inner else root.name
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
    item: Any,
    what: str,
    label: str | Iterable[str],
    shape: tuple[int, int] | None,
    found: Counter | None = None,
) -> np.ndarray:
    if isinstance(item, Path):
        if item.suffix.lower() == ".json":
            return labelme_mask(item, label, shape, found)
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
