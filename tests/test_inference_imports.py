"""Inference (pympas.segment, checkpoint loading) imports no training code."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from pympas.config import TrainConfig  # noqa: E402
from pympas.model.checkpoint import read_checkpoint, write_checkpoint  # noqa: E402
from pympas.model.mpasnet import MPASNet  # noqa: E402

CHECK = """
import sys
import numpy as np
import torch  # torch itself imports torch.distributed; pympas must add nothing of training

before = set(sys.modules)
import pympas

masks = [m for _, m in pympas.segment(sys.argv[1], np.zeros((2, 40, 48, 3), np.uint8),
                                      device="cpu", batch_size=2)]
assert len(masks) == 2 and masks[0].shape == (40, 48), [m.shape for m in masks]
new = set(sys.modules) - before
training = {"pympas.train", "pympas.model.data", "pympas.model.augment", "pympas.model.losses",
            "kornia", "PIL"}
found = sorted(m for m in new if m.split(".")[0] in ("kornia", "PIL") or m in training
               or m.startswith("torch.distributed") or m.startswith("torch.utils.data"))
assert not found, f"inference imported training code: {found}"
"""


def test_segmenting_from_a_checkpoint_imports_no_training_code(tmp_path):
    model = MPASNet("w18-small")
    state = {
        "format": "pympas-checkpoint",
        "model": model.state_dict(),
        "step": 1,
        "config": dataclasses.asdict(TrainConfig(arch="w18-small", out=str(tmp_path))),
    }
    path = write_checkpoint(state, tmp_path, 1)
    assert read_checkpoint(tmp_path / "checkpoint_last.pt")["step"] == 1
    res = subprocess.run([sys.executable, "-c", CHECK, str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
