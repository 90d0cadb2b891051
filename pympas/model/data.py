"""Training data: frames and pseudo-masks of one or more label sets (written by ``pympas label``).

A label set is ``DIR/labels.json`` (format ``pympas-labelset``) with ``DIR/frames/NNNNNN.png``
(colour frame) and ``DIR/masks/NNNNNN.png`` (uint8 0/255 pseudo-mask). Everything is checked
when the dataset is built, so a broken label set fails at once with the file named, not hours
into training.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pympas.model.augment import GeometryParams, random_geometry


@dataclass(frozen=True)
class Sample:
    """One training pair: paths of the frame and its pseudo-mask, and the frame size."""

    image: str
    mask: str
    height: int
    width: int


def _image_size(path: str) -> tuple[int, int]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"missing image file: {path}")
    try:
        with Image.open(path) as im:
            im.verify()  # reads chunk structure and checksums without decoding
            return im.size[1], im.size[0]
    except Exception as exc:
        raise ValueError(f"corrupt or unreadable image: {path} ({exc})") from exc


def read_labelset(directory: str | os.PathLike) -> list[Sample]:
    """The (frame, mask) pairs of one label set, checked: labels.json is present and valid,
    lists at least one frame, every file exists, decodes as an image, and each mask has the
    size of its frame. Errors are ValueError/FileNotFoundError naming the file."""
    directory = os.fspath(directory)
    meta_path = os.path.join(directory, "labels.json")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"label set directory not found: {directory}")
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"not a label set (no labels.json): {meta_path}")
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot parse {meta_path}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != "pympas-labelset":
        raise ValueError(f"{meta_path}: not a pympas-labelset file (missing 'format')")
    if meta.get("format_version", 1) != 1:
        raise ValueError(f"{meta_path}: unsupported format_version {meta['format_version']!r}")
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise ValueError(f"{meta_path}: label set is empty (no frames)")
    samples = []
    for entry in frames:
        try:
            image = os.path.join(directory, entry["image"])
            mask = os.path.join(directory, entry["mask"])
        except (TypeError, KeyError) as exc:
            raise ValueError(f"{meta_path}: frame entry without image/mask: {entry!r}") from exc
        hw = _image_size(image)
        mhw = _image_size(mask)
        if hw != mhw:
            raise ValueError(
                f"mask {mask} has size {mhw[1]}x{mhw[0]} but its frame {image} is {hw[1]}x{hw[0]}"
            )
        samples.append(Sample(image, mask, *hw))
    return samples


def load_pair(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """Decode a pair: image (H, W, 3) uint8 RGB and mask (H, W) uint8 in {0, 1}."""
    image = cv2.imread(sample.image, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"corrupt or unreadable image: {sample.image}")
    mask = cv2.imread(sample.mask, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"corrupt or unreadable mask: {sample.mask}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {sample.mask} {mask.shape} differs from frame {sample.image}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (mask > 127).astype(np.uint8)


class LabelSetDataset(Dataset):
    """Frames and pseudo-masks of one or more label sets.

    Indexing with an int ``i`` gives the i-th pair as tensors at stored size: image (3, H, W)
    float32 in [0, 1] and mask (1, H, W) float32 in {0, 1}. Indexing with a tuple ``(i, seed)``
    gives the pair after :func:`~pympas.model.augment.random_geometry` with the random stream
    ``seed``, both (·, crop, crop); so a sampler that yields seeds makes augmentation
    reproducible whatever the number of loader workers.
    """

    def __init__(
        self, labelsets: Sequence[str | os.PathLike], geometry: GeometryParams | None = None
    ) -> None:
        if isinstance(labelsets, (str, os.PathLike)):
            labelsets = [labelsets]
        if not labelsets:
            raise ValueError("labelsets: at least one label set directory is needed")
        self.samples: list[Sample] = []
        for d in labelsets:
            self.samples += read_labelset(d)
        self.geometry = geometry or GeometryParams()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(key, tuple):
            index, seed = key
            image, mask = load_pair(self.samples[index])
            rng = np.random.default_rng(seed)
            image, mask = random_geometry(image, mask, self.geometry, rng)
        else:
            image, mask = load_pair(self.samples[key])
        x = torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)
        y = torch.from_numpy(mask)[None].float()
        return x, y
