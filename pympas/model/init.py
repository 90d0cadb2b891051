"""Weight initialisation of MPASNet for training from scratch, as in the official HRNet code.

- ``"normal"``: the official HRNet *segmentation* code (``HighResolutionNet.init_weights``):
  every convolution's weight ~ N(0, 0.001^2), BatchNorm weight 1 and bias 0.
- ``"kaiming"``: the official HRNet *classification* code (trained from scratch on ImageNet):
  every convolution's weight ~ Kaiming normal, fan_out, ReLU gain (std sqrt(2 / (k^2 C_out))),
  BatchNorm weight 1 and bias 0.
- ``"torch"``: PyTorch's module defaults (Kaiming uniform with a = sqrt(5), std
  1 / sqrt(3 fan_in)), what pympas used before it had an initialisation of its own.

Convolution biases (only the segmentation head has one) keep PyTorch's default in every
scheme, as in the official code. Pretrained weights, when given, are loaded afterwards and
replace the encoder's.
"""

from __future__ import annotations

import torch
from torch import nn

from pympas.config import INIT_SCHEMES

__all__ = ["INIT_SCHEMES", "init_weights"]


@torch.no_grad()
def init_weights(module: nn.Module, scheme: str = "normal") -> nn.Module:
    """Initialise every Conv2d and BatchNorm2d of ``module`` in place by ``scheme`` (see the
    module docstring); returns ``module``. Draws from torch's global RNG."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {INIT_SCHEMES}, got {scheme!r}")
    if scheme == "torch":
        return module
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            if scheme == "normal":
                nn.init.normal_(m.weight, std=0.001)
            else:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module
