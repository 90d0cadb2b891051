"""Augmentation for MPASNet training.

- Geometric (random scale, crop, horizontal flip): :func:`random_geometry`, applied per sample
  with one set of random parameters to the frame and its pseudo-mask; the augmented copy is made
  afterwards from the transformed frame, so frame, copy and mask share the same geometry.
- Photometric (the augmented branch x^ of the siamese network): :class:`Photometric`, kornia
  ColorJitter + RandomGrayscale on a batched tensor. torchvision's ColorJitter defaults are all
  zero (no jitter); the defaults here are real strengths:
  brightness 0.4, contrast 0.4, saturation 0.4, hue 0.1 (each factor drawn uniformly in
  [1 - s, 1 + s], hue shift in [-0.1, 0.1] of a full turn), always applied, then grayscale with
  probability 0.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from pympas.config import TrainConfig  # the defaults of a training run


@dataclass
class PhotometricParams:
    """Strengths of the augmented branch (see module docstring)."""

    brightness: float = TrainConfig.brightness
    contrast: float = TrainConfig.contrast
    saturation: float = TrainConfig.saturation
    hue: float = TrainConfig.hue
    grayscale_p: float = TrainConfig.grayscale_p


class Photometric(nn.Module):
    """x (B, 3, H, W) RGB in [0, 1] -> augmented copy x^ of the same shape, in [0, 1]; each image
    of the batch gets its own random parameters (drawn from torch's global RNG)."""

    def __init__(self, params: PhotometricParams | None = None) -> None:
        super().__init__()
        import kornia.augmentation as K

        p = params or PhotometricParams()
        for name in ("brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(p, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(p, name)}")
        if not 0.0 <= p.hue <= 0.5:
            raise ValueError(f"hue must lie in [0, 0.5], got {p.hue}")
        if not 0.0 <= p.grayscale_p <= 1.0:
            raise ValueError(f"grayscale_p must lie in [0, 1], got {p.grayscale_p}")
        self.params = p
        self.jitter = K.ColorJitter(p.brightness, p.contrast, p.saturation, p.hue, p=1.0)
        self.gray = K.RandomGrayscale(p=p.grayscale_p)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        y = self.gray(self.jitter(x.float()))
        return y.clamp_(0.0, 1.0).to(dtype)


@dataclass
class GeometryParams:
    """Random scale factor range (relative to the stored frame), crop size, flip probability."""

    crop: int = TrainConfig.crop
    scale_min: float = TrainConfig.scale_min
    scale_max: float = TrainConfig.scale_max
    flip_p: float = TrainConfig.flip_p


def random_geometry(
    image: np.ndarray, mask: np.ndarray, params: GeometryParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Scale, crop and flip a frame and its mask with the same random parameters.

    Args:
        image: (H, W, 3) uint8 RGB. mask: (H, W) uint8 (any values, resized nearest-neighbour).
        params: :class:`GeometryParams`; rng: source of randomness.

    Returns (crop, crop, 3) image and (crop, crop) mask. Where the scaled frame is smaller than
    the crop it is padded by reflection, the mask likewise, so labels stay aligned.
    """
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and mask {mask.shape[:2]} sizes differ")
    h, w = mask.shape[:2]
    s = rng.uniform(params.scale_min, params.scale_max)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if (nh, nw) != (h, w):
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, (nw, nh), interpolation=cv2.INTER_NEAREST)
    c = params.crop
    ph, pw = max(0, c - nh), max(0, c - nw)
    if ph or pw:
        top, left = ph // 2, pw // 2
        border = (top, ph - top, left, pw - left)
        image = cv2.copyMakeBorder(image, *border, cv2.BORDER_REFLECT_101)
        mask = cv2.copyMakeBorder(mask, *border, cv2.BORDER_REFLECT_101)
        nh, nw = mask.shape[:2]
    y0 = int(rng.integers(0, nh - c + 1))
    x0 = int(rng.integers(0, nw - c + 1))
    image = image[y0 : y0 + c, x0 : x0 + c]
    mask = mask[y0 : y0 + c, x0 : x0 + c]
    if rng.random() < params.flip_p:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)
