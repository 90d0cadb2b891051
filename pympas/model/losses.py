"""Training losses of MPASNet: L_SEG (Eq. 6), L_AIR (Eq. 7), and BCE for the `--loss ce` ablation.

Total loss: L = w_air * L_AIR + w_seg * L_SEG (paper: both weights 1). Pixels whose target is
:data:`pympas.background.IGNORE` (255) take no part in L_SEG (the CRM pixels that show the
stationary background, :mod:`pympas.background`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pympas.background import IGNORE
from pympas.config import AIR_MODES, LOSSES


def _check(logits: Tensor, target: Tensor) -> None:
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")


def dice_loss(logits: Tensor, target: Tensor, smooth: float = 1.0, literal: bool = False) -> Tensor:
    """Dice loss with Laplace smoothing, L_SEG of Eq. 6.

    Args:
        logits: (B, 1, H, W) raw scores; p = sigmoid(logits).
        target: (B, 1, H, W) pseudo-mask in {0, 1}; pixels equal to IGNORE (255) are left out
            of the sums.
        smooth: the Laplace smoothing term added to numerator and denominator.
        literal: Eq. 6 exactly as printed.

    Default (``literal=False``): standard soft Dice per image, averaged over the batch,
    ``mean_b [1 - (2 sum(p g) + s) / (sum(p) + sum(g) + s)]``.

    ``literal=True``: Eq. 6 as printed additionally divides by W' x H' (the number of pixels),
    ``mean_b [1 - (2 sum(p g) + s) / (sum(p) + sum(g) + s)] / (W' H')``. That rescales the
    loss and its gradient by 1 / (W' H'), about 3.8e-6 at 512x512, so next to L_AIR (an MSE of
    order 1e-2 .. 1) the segmentation head hardly receives any gradient. The printed division is
    most likely a typesetting slip for a per-pixel mean; the default is the usual soft Dice and
    the literal form is kept as an option for the ablation.
    """
    _check(logits, target)
    valid = (target != IGNORE).flatten(1)
    p = torch.sigmoid(logits.float()).flatten(1) * valid
    g = (target == 1).float().flatten(1)
    inter = (p * g).sum(1)
    dice = (2.0 * inter + smooth) / (p.sum(1) + g.sum(1) + smooth)
    loss = (1.0 - dice).mean()
    if literal:
        loss = loss / (logits.shape[-1] * logits.shape[-2])  # Eq. 6 divides by W' x H'
    return loss


def air_loss(
    features: Tensor, features_aug: Tensor, mode: str = "standardized", eps: float = 1e-5
) -> Tensor:
    """Augmentation-invariant regularisation L_AIR, Eq. 7: mean squared error between the
    HRNetV2 features F and F^ of a frame and its augmented copy.

    Args:
        features: F, (B, C, H', W').
        features_aug: F^, (B, C, H', W').
        mode: ``standardized`` (default) or ``raw``.
        eps: added to each channel's variance in ``standardized`` mode.

    ``raw`` is Eq. 7 as printed, ``mean((F - F^)^2)``. Its value falls with the scale of the
    features, so a network trained from scratch can lower it by shrinking F towards a constant
    (BN gains -> 0) instead of becoming invariant to the augmentation; with Dice as L_SEG, whose
    gradient is small and bounded, that collapse wins and every pixel ends up as crowd.

    ``standardized`` first normalises every channel by its mean and variance over both branches
    (batch and pixels together), then takes the same MSE. Per channel this equals
    ``2 (1 - rho)`` with rho the correlation of F and F^ across pixels, so it is 0 exactly when
    F^ = F and does not change when a channel is scaled or shifted: only invariance lowers it.
    """
    if features.shape != features_aug.shape:
        raise ValueError(f"F {tuple(features.shape)} and F^ {tuple(features_aug.shape)} differ")
    if features.ndim != 4:
        raise ValueError(f"F must have shape (B, C, H', W'), got {tuple(features.shape)}")
    dtype = torch.promote_types(features.dtype, torch.float32)  # bf16 autocast -> float32
    f, f_aug = features.to(dtype), features_aug.to(dtype)
    if mode == "raw":
        return F.mse_loss(f, f_aug)  # Eq. 7
    if mode != "standardized":
        raise ValueError(f"mode must be one of {AIR_MODES}, got {mode!r}")
    both = torch.cat([f, f_aug], dim=0)
    mean = both.mean(dim=(0, 2, 3), keepdim=True)
    std = torch.sqrt(both.var(dim=(0, 2, 3), unbiased=False, keepdim=True) + eps)
    return F.mse_loss((f - mean) / std, (f_aug - mean) / std)  # Eq. 7 on standardised channels


def bce_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross entropy on logits (B, 1, H, W) against masks in {0, 1}, mean over the pixels
    whose target is not IGNORE (255)."""
    _check(logits, target)
    valid = (target != IGNORE).float()
    g = (target == 1).float()
    per_pixel = F.binary_cross_entropy_with_logits(logits.float(), g, reduction="none")
    return (per_pixel * valid).sum() / valid.sum().clamp_min(1.0)


def seg_loss(kind: str, logits: Tensor, target: Tensor) -> Tensor:
    """L_SEG of the chosen kind: ``dice`` (default), ``dice-literal`` (Eq. 6 as printed), ``ce``."""
    if kind == "dice":
        return dice_loss(logits, target)
    if kind == "dice-literal":
        return dice_loss(logits, target, literal=True)
    if kind == "ce":
        return bce_loss(logits, target)
    raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
