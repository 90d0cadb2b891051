"""HRNetV2 backbone, the encoder of MPASNet (paper Sec. 2.3), with the architecture as data.

The module tree and parameter names follow the official HRNet image-classification code
(``conv1, bn1, conv2, bn2, layer1, transition1, stage2, transition2, stage3, transition3,
stage4``; inside a stage ``<i>.branches.<b>.<block>`` and ``<i>.fuse_layers.<i>.<j>``) so that
an ImageNet-pretrained state dict published in that naming loads with :func:`load_pretrained`.
The classification head of those files (``incre_modules``, ``downsamp_modules``,
``final_layer``, ``classifier``) is not built and its keys are ignored.

The output is the HRNetV2 representation: the four branches upsampled (bilinear) to the
resolution of the first branch, 1/4 of the input, and concatenated along channels; this is the
feature F of the paper's Eq. 7 and of SFA.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BN_MOMENTUM = 0.1


def _stage(modules: int, block: str, blocks: list[int], channels: list[int]) -> dict[str, Any]:
    return {"num_modules": modules, "block": block, "num_blocks": blocks, "num_channels": channels}


def _config(width: int, modules: tuple[int, int, int], blocks: int, stem: int = 4) -> dict:
    w = [width, 2 * width, 4 * width, 8 * width]
    return {
        "stage1": _stage(1, "bottleneck", [stem], [64]),
        "stage2": _stage(modules[0], "basic", [blocks] * 2, w[:2]),
        "stage3": _stage(modules[1], "basic", [blocks] * 3, w[:3]),
        "stage4": _stage(modules[2], "basic", [blocks] * 4, w[:4]),
    }


#: Architectures of the official HRNet image-classification configs (hrnet_w*_*.yaml).
#: ``w18-small`` is W18-small-v2.
CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "w18-small": _config(18, (1, 3, 2), blocks=2, stem=2),
    "w18": _config(18, (1, 4, 3), blocks=4),
    "w32": _config(32, (1, 4, 3), blocks=4),
    "w48": _config(48, (1, 4, 3), blocks=4),
}

#: Key prefixes of the classification head in official checkpoints, ignored on load.
HEAD_PREFIXES = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.")


def _conv_bn(cin: int, cout: int, k: int, stride: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet basic block)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 channels) with a residual connection (ResNet bottleneck)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
}


def _make_layer(block, inplanes: int, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = _conv_bn(inplanes, planes * block.expansion, 1, stride, relu=False)
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches at resolutions 1/4, 1/8, ... followed by all-to-all fusion.

    ``fuse_layers[i][j]`` brings branch j to branch i: 1x1 conv + BN then upsampling when
    j > i, a chain of stride-2 3x3 convs when j < i, and nothing (None) when j == i.
    """

    def __init__(self, block, num_blocks: list[int], inchannels: list[int], channels: list[int]):
        super().__init__()
        n = len(channels)
        self.num_branches = n
        branches = []
        for b in range(n):
            branches.append(_make_layer(block, inchannels[b], channels[b], num_blocks[b]))
        self.branches = nn.ModuleList(branches)
        self.out_channels = [c * block.expansion for c in channels]
        self.fuse_layers = self._make_fuse_layers(self.out_channels) if n > 1 else None
        self.relu = nn.ReLU(inplace=False)

    @staticmethod
    def _make_fuse_layers(ch: list[int]) -> nn.ModuleList:
        n = len(ch)
        fuse_layers = []
        for i in range(n):
            row: list[nn.Module | None] = []
            for j in range(n):
                if j > i:
                    row.append(_conv_bn(ch[j], ch[i], 1, 1, relu=False))
                elif j == i:
                    row.append(None)
                else:
                    steps = [_conv_bn(ch[j], ch[j], 3, 2, relu=True) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(ch[j], ch[i], 3, 2, relu=False))
                    # the last step has no ReLU: branches are summed first, then ReLU
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            size = xs[i].shape[-2:]
            y = xs[i]
            for j, layer in enumerate(row):
                if j == i:
                    continue
                z = layer(xs[j])
                if j > i:
                    z = F.interpolate(z, size=size, mode="bilinear", align_corners=False)
                y = y + z
            out.append(self.relu(y))
        return out


@dataclass
class HRNetSpec:
    """Summary of a built HRNet: per-branch channels and the width C of the representation."""

    arch: str
    branch_channels: list[int] = field(default_factory=list)

    @property
    def out_channels(self) -> int:
        return sum(self.branch_channels)


class HRNet(nn.Module):
    """HRNetV2 encoder.

    Args:
        arch: one of :data:`CONFIGS` (``w18-small``, ``w18``, ``w32``, ``w48``), or a config dict
            with keys ``stage1`` .. ``stage4`` in the format of :data:`CONFIGS`.

    ``forward(x)``: x (B, 3, H, W) normalised image -> F (B, C, ceil(H/4), ceil(W/4)) with
    C = sum of the four branch widths (270 for w18, 480 for w32, 720 for w48).
    """

    def __init__(self, arch: str | dict = "w18-small") -> None:
        super().__init__()
        if isinstance(arch, str):
            if arch not in CONFIGS:
                raise ValueError(f"arch must be one of {sorted(CONFIGS)}, got {arch!r}")
            name, cfg = arch, copy.deepcopy(CONFIGS[arch])
        else:
            name, cfg = "custom", copy.deepcopy(arch)
        self.cfg = cfg
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)

        s1 = cfg["stage1"]
        block = BLOCKS[s1["block"]]
        self.layer1 = _make_layer(block, 64, s1["num_channels"][0], s1["num_blocks"][0])
        pre = [s1["num_channels"][0] * block.expansion]
        for k in (2, 3, 4):
            scfg = cfg[f"stage{k}"]
            block = BLOCKS[scfg["block"]]
            cur = [c * block.expansion for c in scfg["num_channels"]]
            setattr(self, f"transition{k - 1}", self._make_transition(pre, cur))
            modules = []
            inch = cur
            for _ in range(scfg["num_modules"]):
                m = HighResolutionModule(block, scfg["num_blocks"], inch, scfg["num_channels"])
                inch = m.out_channels
                modules.append(m)
            setattr(self, f"stage{k}", nn.Sequential(*modules))
            pre = inch
        self.spec = HRNetSpec(name, list(pre))

    @property
    def out_channels(self) -> int:
        """Channels C of the HRNetV2 representation F."""
        return self.spec.out_channels

    @staticmethod
    def _make_transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
        layers: list[nn.Module | None] = []
        for i, c in enumerate(cur):
            if i < len(pre):
                layers.append(_conv_bn(pre[i], c, 3, 1, relu=True) if pre[i] != c else None)
            else:
                steps = []
                for j in range(i + 1 - len(pre)):
                    out = c if j == i - len(pre) else pre[-1]
                    steps.append(_conv_bn(pre[-1], out, 3, 2, relu=True))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def forward_branches(self, x: Tensor) -> list[Tensor]:
        """The four branch outputs, at 1/4, 1/8, 1/16 and 1/32 of the input resolution."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for k in (2, 3, 4):
            transition = getattr(self, f"transition{k - 1}")
            inputs = []
            for i, t in enumerate(transition):
                src = xs[i] if i < len(xs) else xs[-1]
                inputs.append(src if t is None else t(src))
            xs = getattr(self, f"stage{k}")(inputs)
        return xs

    def forward(self, x: Tensor) -> Tensor:
        xs = self.forward_branches(x)
        size = xs[0].shape[-2:]
        ups = [xs[0]] + [
            F.interpolate(t, size=size, mode="bilinear", align_corners=False) for t in xs[1:]
        ]
        return torch.cat(ups, dim=1)


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did: keys loaded, missing from the file, unexpected in it,
    and classification-head keys ignored."""

    path: str
    loaded: list[str]
    missing: list[str]
    unexpected: list[str]
    ignored: list[str]

    def summary(self) -> str:
        def show(keys: list[str]) -> str:
            head = ", ".join(keys[:8])
            return head + (f", ... ({len(keys) - 8} more)" if len(keys) > 8 else "")

        lines = [f"{self.path}: loaded {len(self.loaded)} tensors"]
        if self.ignored:
            lines.append(f"  ignored {len(self.ignored)} classification-head keys")
        if self.missing:
            lines.append(f"  missing {len(self.missing)} keys (left at init): {show(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected {len(self.unexpected)} keys: {show(self.unexpected)}")
        return "\n".join(lines)


def _unwrap_state_dict(obj: Any, path: str) -> dict[str, Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{path}: not a state dict of tensors (got {type(obj).__name__})")
    out = {}
    for k, v in obj.items():
        for prefix in ("module.", "encoder.", "backbone."):
            if k.startswith(prefix):
                k = k[len(prefix) :]
        out[k] = v
    return out


def load_torch_file(path: str | os.PathLike, what: str) -> Any:
    """``torch.load`` a local file on the CPU (tensors only, no pickled code), with errors that
    name the file: FileNotFoundError if it is missing, ValueError if it is corrupt or unreadable.
    ``what`` describes the file in the message (e.g. "checkpoint")."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: corrupt or unreadable {what} ({exc})") from exc


def load_pretrained(model: HRNet, path: str | os.PathLike, partial: bool = False) -> LoadReport:
    """Load an ImageNet-pretrained HRNet state dict (official classification naming) from the
    local file ``path`` into ``model``; nothing is downloaded.

    The file may hold the state dict itself or a dict with it under ``state_dict``/``model``;
    ``module.`` prefixes (DataParallel) are stripped. Classification-head keys are ignored.
    Keys whose shape differs from the model (e.g. weights of another width) raise ValueError
    naming the file. ``num_batches_tracked`` buffers absent from older files are not reported.

    Every other encoder key must match: a key of the model missing from the file, or a key of
    the file the model lacks (weights of another depth, e.g. w18 into w18-small), is a
    ValueError naming the file and the first keys, unless ``partial=True`` (``pympas train
    --pretrained-partial``), which loads what matches and reports the rest.

    Returns a :class:`LoadReport`.
    """
    path = os.fspath(path)
    state = _unwrap_state_dict(load_torch_file(path, "pretrained weights"), path)
    own = model.state_dict()
    ignored = sorted(k for k in state if k.startswith(HEAD_PREFIXES))
    candidates = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}
    unexpected = sorted(k for k in candidates if k not in own)
    mismatched = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in candidates.items()
        if k in own and v.shape != own[k].shape
    ]
    if mismatched:
        raise ValueError(
            f"{path}: {len(mismatched)} tensors do not match the shapes of HRNet "
            f"{model.spec.arch!r} (weights of another width?): " + "; ".join(mismatched[:3])
        )
    loadable = {k: v for k, v in candidates.items() if k in own}
    missing = sorted(k for k in own if k not in loadable and not k.endswith("num_batches_tracked"))
    if not partial and (missing or unexpected):
        raise ValueError(
            f"{path}: does not fit HRNet {model.spec.arch!r} (weights of another depth?): "
            f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected keys "
            f"{unexpected[:3]}; pass --pretrained-partial (partial=True) to load the "
            f"{len(loadable)} matching tensors anyway"
        )
    model.load_state_dict(loadable, strict=False)
    return LoadReport(path, sorted(loadable), missing, unexpected, ignored)
