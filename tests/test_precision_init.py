"""Precision choice (amp="auto": bf16 + channels_last where native) and the official init."""

from __future__ import annotations

import json
import math
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

from helpers.labelsets import write_labelset  # noqa: E402

from pympas.config import TrainConfig  # noqa: E402
from pympas.model import MPASNet, precision  # noqa: E402
from pympas.model.checkpoint import load_model, read_checkpoint  # noqa: E402
from pympas.model.init import init_weights  # noqa: E402
from pympas.train import train  # noqa: E402

TINY = dict(arch="w18-small", batch_size=2, crop=64, num_workers=0, progress=False, log_every=1)


def _convs(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def test_resolve_amp_spellings(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: True)
    assert precision.resolve_amp("auto", "cpu") is True
    assert precision.resolve_amp(None, "cpu") is True
    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: False)
    assert precision.resolve_amp("auto", "cpu") is False
    assert precision.resolve_amp(True, "cpu") is True and precision.resolve_amp("bf16", "cpu")
    assert precision.resolve_amp(False, "cpu") is False
    assert precision.resolve_amp("fp32", "cpu") is False
    with pytest.raises(ValueError, match="amp must be"):
        precision.resolve_amp("fp16", "cpu")


def test_auto_follows_onednn_report_on_this_cpu():
    expected = torch.backends.mkldnn.is_available() and bool(
        torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )
    assert precision.bf16_supported("cpu") == expected
    assert precision.resolve_amp("auto", "cpu") == expected


@pytest.mark.parametrize("amp", ["bf16", "fp32"])
def test_run_records_resolved_precision_and_uses_it(tmp_path, amp):
    ls = write_labelset(tmp_path / "set", n_frames=2)
    out = train(TrainConfig(labelsets=[ls], out=str(tmp_path / "r"), steps=2, amp=amp, **TINY))
    with open(os.path.join(out, "config.json")) as fh:
        cfg = json.load(fh)
    assert cfg["precision"] == amp and cfg["amp"] is (amp == "bf16")
    assert read_checkpoint(os.path.join(out, "checkpoint_last.pt"))["config"]["amp"] is (
        amp == "bf16"
    )
    model = load_model(os.path.join(out, "checkpoint_last.pt"))
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights


def test_unknown_amp_is_refused_by_name(tmp_path):
    ls = write_labelset(tmp_path / "set", n_frames=2)
    with pytest.raises(ValueError, match="amp must be"):
        train(TrainConfig(labelsets=[ls], out=str(tmp_path / "r"), steps=1, amp="fp16", **TINY))


def test_bf16_forward_is_close_to_fp32():
    torch.manual_seed(0)
    model = init_weights(MPASNet("w18-small"), "kaiming").eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        cl = model.to(memory_format=torch.channels_last)
        with precision.autocast("cpu", True):
            low = cl(x.contiguous(memory_format=torch.channels_last)).float()
    agree = ((ref > 0) == (low > 0)).float().mean().item()
    assert agree > 0.95
    assert (ref - low).abs().mean().item() < 0.1 * ref.abs().mean().item() + 1e-3


def test_normal_init_is_the_official_segmentation_one():
    torch.manual_seed(0)
    model = init_weights(MPASNet("w18-small"), "normal")
    w = torch.cat([c.weight.flatten() for c in _convs(model)])
    assert w.std().item() == pytest.approx(0.001, rel=0.02)
    assert abs(w.mean().item()) < 1e-4
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


def test_kaiming_init_is_fan_out_relu_per_layer():
    torch.manual_seed(0)
    model = init_weights(MPASNet("w18-small"), "kaiming")
    big = [c for c in _convs(model) if c.weight.numel() >= 4096]
    assert len(big) > 20
    for c in big:
        cout, _, kh, kw = c.weight.shape
        want = math.sqrt(2.0 / (cout * kh * kw))
        assert c.weight.std().item() == pytest.approx(want, rel=0.1), c


def test_training_from_scratch_applies_the_configured_init_to_every_convolution(
    tmp_path, monkeypatch
):
    import pympas.train as tr

    seen: list[tuple[str, float]] = []

    def spy(module, scheme):
        out = init_weights(module, scheme)
        std = torch.cat([c.weight.flatten() for c in _convs(module)]).std().item()
        seen.append((scheme, std))
        return out

    monkeypatch.setattr(tr, "init_weights", spy)
    ls = write_labelset(tmp_path / "set", n_frames=2)
    cfg = TrainConfig(labelsets=[ls], out=str(tmp_path / "r"), steps=1, init="normal", **TINY)
    train(cfg)
    assert seen == [("normal", pytest.approx(0.001, rel=0.05))]
    with pytest.raises(ValueError, match="init must be"):
        train(TrainConfig(labelsets=[ls], out=str(tmp_path / "q"), steps=1, init="xavier", **TINY))
