"""MPASNet (paper Sec. 2.3, Fig. 2): HRNetV2 encoder, feature transform psi, segmentation head.

Training (siamese): the frame x and its photometrically augmented copy x^ pass through the same
encoder, giving F and F^ (compared by L_AIR, Eq. 7); Siamese Feature Aggregation (SFA) fuses
them as F_fuse = (psi(F) + psi(F^)) / 2 and the head segments F_fuse.
Inference: logits = head(psi(F)); the augmented branch is not computed.

In training both branches go through the encoder as one batch of 2B images, so BatchNorm
normalises F and F^ with the same batch statistics and L_AIR compares them on one scale.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pympas.model.hrnet import BN_MOMENTUM, HRNet

#: ImageNet statistics, the normalisation of the pretrained HRNet weights (RGB, [0, 1] input).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SiameseOutput(NamedTuple):
    """What the training losses need.

    features: F (B, C, H/4, W/4) of the frame; features_aug: F^ of the augmented copy, or None
    when no augmented branch was computed; logits: (B, 1, H, W) at input size.
    """

    features: Tensor
    features_aug: Tensor | None
    logits: Tensor


class MPASNet(nn.Module):
    """Motion Prior-Aware Siamese Network.

    Args:
        arch: HRNet configuration (``w18-small``, ``w18``, ``w32``, ``w48``).
        sfa: fuse psi(F) and psi(F^) for the head in training (SFA); when False the head sees
            psi(F) only and the augmented branch serves L_AIR alone.

    ``forward(x)``: x (B, 3, H, W) float RGB in [0, 1] -> logits (B, 1, H, W).
    ``forward(x, x_aug)``: also the augmented branch -> :class:`SiameseOutput`.
    ``forward(x, return_features=True)``: single branch -> :class:`SiameseOutput` with
    ``features_aug=None`` (MPASNet*, the ablation without the siamese branch).
    """

    def __init__(self, arch: str = "w18-small", sfa: bool = True) -> None:
        super().__init__()
        self.arch = arch
        self.sfa = sfa
        #: CRM radius (px) of the training labels, from the checkpoint; None when unknown
        self.crm_radius: float | None = None
        self.encoder = HRNet(arch)
        c = self.encoder.out_channels
        # psi: shared 1x1 conv C -> C + BN + ReLU, applied to both branches
        self.psi = nn.Sequential(
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
        )
        # segmentation head: one conv to a single logit channel (crowd vs background)
        self.head = nn.Conv2d(c, 1, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    @property
    def feature_channels(self) -> int:
        """C, the channels of F."""
        return self.encoder.out_channels

    def normalize(self, x: Tensor) -> Tensor:
        """RGB in [0, 1] (B, 3, H, W) -> ImageNet-normalised input of the encoder."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"x must have shape (B, 3, H, W), got {tuple(x.shape)}")
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def _segment(self, fused: Tensor, size: torch.Size) -> Tensor:
        logits = self.head(fused)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    def forward(
        self, x: Tensor, x_aug: Tensor | None = None, return_features: bool = False
    ) -> Tensor | SiameseOutput:
        size = x.shape[-2:]
        if x_aug is None:
            feats = self.encoder(self.normalize(x))
            logits = self._segment(self.psi(feats), size)
            return SiameseOutput(feats, None, logits) if return_features else logits
        if x_aug.shape != x.shape:
            raise ValueError(f"x_aug must have the shape of x {tuple(x.shape)}, got {x_aug.shape}")
        # both branches in one batch: same weights, one pass
        both = self.encoder(self.normalize(torch.cat([x, x_aug], dim=0)))
        feats, feats_aug = both.chunk(2, dim=0)
        if self.sfa:
            psi_both = self.psi(both)
            fused = 0.5 * (psi_both[: x.shape[0]] + psi_both[x.shape[0] :])  # SFA
        else:
            fused = self.psi(feats)
        return SiameseOutput(feats, feats_aug, self._segment(fused, size))
