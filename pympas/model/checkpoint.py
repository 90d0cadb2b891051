"""Checkpoints of MPASNet: writing them during training, reading them for inference.

A checkpoint is a ``torch.save`` dict with ``format`` ("pympas-checkpoint"), ``model`` (the
state dict), ``optimizer``, ``step``, ``config`` (the :class:`pympas.config.TrainConfig` as a
dict), ``pympas_version`` and the RNG states of an exact resume. A run folder holds
``checkpoint_NNNNNN.pt`` and ``checkpoint_last.pt``.

This module imports no training code (no dataset, augmentation, optimizer loop or
torch.distributed use), so that inference (:func:`load_model`, ``pympas.segment``) stays light.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pympas.config import ARCHS
from pympas.files import write_atomic
from pympas.model.hrnet import load_torch_file
from pympas.model.mpasnet import MPASNet

__all__ = [
    "CHECKPOINT_FORMAT",
    "LAST",
    "load_model",
    "model_from_checkpoint",
    "read_checkpoint",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "pympas-checkpoint"
#: the latest checkpoint of a run folder
LAST = "checkpoint_last.pt"


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a training checkpoint (on CPU); ValueError naming the file if it is not
    one (corrupt, truncated, or another kind of file)."""
    path = os.fspath(path)
    ckpt = load_torch_file(path, "checkpoint")
    if not isinstance(ckpt, dict) or not {"model", "config", "step"} <= set(ckpt):
        raise ValueError(f"{path}: not a pympas training checkpoint (no model/config/step)")
    arch = ckpt["config"].get("arch") if isinstance(ckpt["config"], dict) else None
    if arch not in ARCHS:
        raise ValueError(f"{path}: checkpoint config has unknown arch {arch!r}")
    return ckpt


def load_weights(model: nn.Module, state: dict, path: str, arch: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise ValueError(
            f"{path}: weights do not fit MPASNet {arch!r} (checkpoint of another arch?): "
            + " ".join(first)
        ) from exc


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", arch: str | None = None
) -> MPASNet:
    """MPASNet in eval mode from a training checkpoint.

    Args:
        path: a ``*.pt`` file written by :func:`train`.
        device: where to put the model.
        arch: if given, the architecture the caller expects; a checkpoint of another arch is a
            ValueError naming the file.

    The returned model maps x (B, 3, H, W) RGB in [0, 1] to logits (B, 1, H, W).
    """
    path = os.fspath(path)
    ckpt = read_checkpoint(path)
    cfg = ckpt["config"]
    if arch is not None and arch != cfg["arch"]:
        raise ValueError(f"{path}: checkpoint is arch {cfg['arch']!r}, expected {arch!r}")
    return model_from_checkpoint(ckpt, path).to(device)


def model_from_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike) -> MPASNet:
    """MPASNet in eval mode (on the CPU) with the weights of a checkpoint read by
    :func:`read_checkpoint` from ``path`` (named in errors)."""
    cfg = ckpt["config"]
    model = MPASNet(cfg["arch"], sfa=cfg.get("sfa", True))
    load_weights(model, ckpt["model"], os.fspath(path), cfg["arch"])
    model.crm_radius = ckpt.get("crm_radius")  # None in checkpoints that predate it
    return model.eval()


def write_checkpoint(state: dict[str, Any], run_dir: str | os.PathLike, step: int) -> Path:
    """Write ``state`` as ``run_dir/checkpoint_NNNNNN.pt`` and make ``checkpoint_last.pt`` the
    same file (a hard link where the file system allows, else a copy); both atomically."""
    run_dir = Path(run_dir)
    numbered = run_dir / f"checkpoint_{step:06d}.pt"
    write_atomic(numbered, lambda fh: torch.save(state, fh))
    tmp = run_dir / f".{LAST}.tmp{os.getpid()}"
    try:
        os.link(numbered, tmp)
    except OSError:
        write_atomic(tmp, lambda fh: torch.save(state, fh))
    os.replace(tmp, run_dir / LAST)
    return numbered
