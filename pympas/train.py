"""``pympas-train``: train MPASNet on pseudo-labelled label sets (paper Sec. 2.3, Fig. 2).

    pympas-train LABELSET_DIR... -o RUN_DIR [--arch w48|w32|w18|w18-small] [--steps N]
                 [--batch-size B] [--crop S] [--pretrained PATH] [--resume [CKPT]]
                 [--device DEV] [--amp|--no-amp] [--no-air] [--air-mode standardized|raw] [--no-sfa]
                 [--loss dice|dice-literal|ce] [--no-siamese]

Multi-GPU: ``torchrun --nproc_per_node=G -m pympas.train ...`` (PyTorch DDP; ``--batch-size`` is
per process). The run folder holds ``config.json``, ``command.txt``, ``log.jsonl`` (one JSON
object per logged step) and checkpoints ``checkpoint_NNNNNN.pt`` plus ``checkpoint_last.pt``.

Python API: :func:`train` (``TrainConfig`` -> run dir) and :func:`load_model` (checkpoint ->
MPASNet in eval mode).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from pympas._version import __version__
from pympas.model.augment import GeometryParams, Photometric, PhotometricParams
from pympas.model.data import LabelSetDataset
from pympas.model.hrnet import CONFIGS, load_pretrained, load_torch_file
from pympas.model.losses import AIR_MODES, LOSSES, air_loss, seg_loss
from pympas.model.mpasnet import MPASNet

CHECKPOINT_FORMAT = "pympas-checkpoint"
LAST = "checkpoint_last.pt"


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in config.json and every checkpoint).

    ``arch=None`` picks w48 on CUDA and w18-small on CPU; ``device=None`` picks CUDA when
    available; ``amp=None`` enables bf16 autocast on CUDA only. ``batch_size`` is per process.
    Loss: ``w_air * L_AIR + w_seg * L_SEG``; ``air``/``sfa``/``siamese`` switch the paper's
    ablations (``siamese=False`` is MPASNet*: no augmented branch at all).
    """

    labelsets: list[str] = field(default_factory=list)
    out: str = ""
    arch: str | None = None
    steps: int = 10000
    batch_size: int = 8
    crop: int = 512
    pretrained: str | None = None
    resume: str | None = None
    device: str | None = None
    amp: bool | None = None
    air: bool = True
    air_mode: str = "standardized"
    sfa: bool = True
    siamese: bool = True
    loss: str = "dice"
    w_air: float = 1.0
    w_seg: float = 1.0
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    scale_min: float = 0.5
    scale_max: float = 2.0
    flip_p: float = 0.5
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_p: float = 0.2
    save_every: int = 1000
    log_every: int = 10
    seed: int = 0
    num_workers: int = 2
    progress: bool = True


#: fields a resumed run may change; all others must match the checkpoint
RESUME_OVERRIDES = ("steps", "device", "save_every", "log_every", "num_workers", "out", "progress")


def _check_config(cfg: TrainConfig) -> None:
    if not cfg.out:
        raise ValueError("out: a run directory is needed (-o RUN_DIR)")
    if cfg.arch is not None and cfg.arch not in CONFIGS:
        raise ValueError(f"arch must be one of {sorted(CONFIGS)}, got {cfg.arch!r}")
    if cfg.loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {cfg.loss!r}")
    if cfg.air_mode not in AIR_MODES:
        raise ValueError(f"air_mode must be one of {AIR_MODES}, got {cfg.air_mode!r}")
    for name in ("steps", "batch_size", "crop", "save_every", "log_every"):
        if int(getattr(cfg, name)) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {cfg.num_workers}")
    if not 0 < cfg.scale_min <= cfg.scale_max:
        raise ValueError(f"need 0 < scale_min <= scale_max, got {cfg.scale_min}, {cfg.scale_max}")


# ----------------------------------------------------------------------------- checkpoints


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()  # noqa: NPY002
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))  # noqa: NPY002
    random.setstate(state["python"])


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a training checkpoint (on CPU); ValueError naming the file if it is not
    one (corrupt, truncated, or another kind of file)."""
    path = os.fspath(path)
    ckpt = load_torch_file(path, "checkpoint")
    if not isinstance(ckpt, dict) or not {"model", "config", "step"} <= set(ckpt):
        raise ValueError(f"{path}: not a pympas training checkpoint (no model/config/step)")
    arch = ckpt["config"].get("arch") if isinstance(ckpt["config"], dict) else None
    if arch not in CONFIGS:
        raise ValueError(f"{path}: checkpoint config has unknown arch {arch!r}")
    return ckpt


def _load_weights(model: nn.Module, state: dict, path: str, arch: str) -> None:
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
    model = MPASNet(cfg["arch"], sfa=cfg.get("sfa", True))
    _load_weights(model, ckpt["model"], path, cfg["arch"])
    return model.to(device).eval()


def _atomic_save(obj: Any, path: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _atomic_write_text(text: str, path: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- sampling


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields, for each step from ``start`` to ``steps``, a batch of ``(index, seed)`` pairs drawn
    from a generator seeded by (seed, step, rank): the data of a step does not depend on what
    ran before it, so a resumed run sees exactly the batches of an uninterrupted one."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, start: int, steps: int):
        self.n, self.batch_size, self.seed, self.rank = n, batch_size, seed, rank
        self.start, self.steps = start, steps

    def __len__(self) -> int:
        return self.steps - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.steps):
            rng = np.random.default_rng([self.seed, step, self.rank])
            idx = rng.integers(0, self.n, self.batch_size)
            seeds = rng.integers(0, 2**63 - 1, self.batch_size)
            yield [(int(i), int(s)) for i, s in zip(idx, seeds, strict=True)]


# ----------------------------------------------------------------------------- training


def _resolve_resume(cfg: TrainConfig) -> tuple[TrainConfig, dict[str, Any], str]:
    path = cfg.resume
    if path in ("last", "") or (path is not None and os.path.isdir(path)):
        path = os.path.join(cfg.out if path in ("last", "") else path, LAST)
    ckpt = read_checkpoint(path)
    saved = dict(ckpt["config"])
    saved.setdefault("air_mode", "raw")  # runs saved before air_mode existed used raw Eq. 7
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    merged = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        given = getattr(cfg, f.name)
        if f.name == "resume":
            continue
        if f.name in RESUME_OVERRIDES:
            if given != getattr(defaults, f.name):
                setattr(merged, f.name, given)
        elif f.name == "labelsets":
            if given and [os.path.abspath(p) for p in given] != saved["labelsets"]:
                raise ValueError(f"{path}: checkpoint was trained on {saved['labelsets']}")
        elif given != getattr(defaults, f.name) and given != saved.get(f.name):
            what = "checkpoint of another arch" if f.name == "arch" else "conflicting setting"
            raise ValueError(
                f"{path}: {what}: {f.name}={saved.get(f.name)!r} in the checkpoint, {given!r} given"
            )
    merged.resume = path
    return merged, ckpt, path


def _setup_distributed(device_pref: str | None) -> tuple[int, int, torch.device, bool]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = device_pref or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(dev)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {dev!r} requested but CUDA is not available")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
    started = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        started = True
    return rank, world, device, started


def _poly_lr(cfg: TrainConfig, step: int) -> float:
    return cfg.lr * (1.0 - step / cfg.steps) ** cfg.poly_power  # polynomial decay


def _mean_across(values: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(values)
        values /= world
    return values


def compute_loss(
    net: nn.Module, photometric: Photometric, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training forward: x (B, 3, H, W) in [0, 1], pseudo-masks y (B, 1, H, W) ->
    (L, L_SEG, L_AIR) with L = w_air L_AIR + w_seg L_SEG; the augmented copy x^ is made here."""
    use_aug = cfg.siamese and (cfg.air or cfg.sfa)
    x_aug = photometric(x) if use_aug else None
    amp = contextlib.nullcontext()
    if cfg.amp:
        amp = torch.autocast(x.device.type, dtype=torch.bfloat16)
    with amp:
        out = net(x, x_aug, return_features=True)
    l_seg = seg_loss(cfg.loss, out.logits, y)
    if cfg.air and out.features_aug is not None:
        l_air = air_loss(out.features, out.features_aug, cfg.air_mode)
    else:
        l_air = torch.zeros((), device=x.device)
    return cfg.w_air * l_air + cfg.w_seg * l_seg, l_seg, l_air


def train(config: TrainConfig) -> str:
    """Train MPASNet as described by ``config``; returns the run directory.

    With ``config.resume`` (a checkpoint, a run directory, or ``"last"`` for ``config.out``)
    the run continues exactly where the checkpoint left it: model, optimizer, step, RNG states
    (per rank, when the number of processes is unchanged) and the per-step data stream are
    restored; only ``steps``, ``device``, ``save_every``, ``log_every``, ``num_workers``,
    ``out``, ``progress`` may differ from the checkpoint.
    """
    cfg = dataclasses.replace(config, labelsets=list(config.labelsets))
    ckpt = None
    if cfg.resume is not None:
        cfg, ckpt, _ = _resolve_resume(cfg)
    _check_config(cfg)
    rank, world, device, started_dist = _setup_distributed(cfg.device)
    try:
        return _train(cfg, ckpt, rank, world, device)
    finally:
        if started_dist:
            dist.destroy_process_group()


def _train(cfg: TrainConfig, ckpt: dict | None, rank: int, world: int, device: torch.device) -> str:
    cuda = device.type == "cuda"
    if cfg.arch is None:
        cfg.arch = "w48" if cuda else "w18-small"
    if cfg.amp is None:
        cfg.amp = cuda
    cfg.labelsets = [os.path.abspath(p) for p in cfg.labelsets]
    cfg.out = os.path.abspath(cfg.out)
    main_rank = rank == 0
    last_path = os.path.join(cfg.out, LAST)
    if ckpt is None and os.path.exists(last_path):
        raise ValueError(f"{cfg.out} already holds a run ({last_path}); use --resume or a new -o")
    if not cfg.labelsets:
        raise ValueError("labelsets: at least one LABELSET_DIR is needed")

    dataset = LabelSetDataset(
        cfg.labelsets, GeometryParams(cfg.crop, cfg.scale_min, cfg.scale_max, cfg.flip_p)
    )
    photometric = Photometric(
        PhotometricParams(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue, cfg.grayscale_p)
    )
    torch.manual_seed(cfg.seed + rank)
    np.random.seed((cfg.seed + rank) % 2**32)  # noqa: NPY002
    random.seed(cfg.seed + rank)

    model = MPASNet(cfg.arch, sfa=cfg.sfa)
    report = None
    start = 0
    if ckpt is not None:
        _load_weights(model, ckpt["model"], cfg.resume, cfg.arch)
        start = int(ckpt["step"])
        if start >= cfg.steps:
            raise ValueError(f"{cfg.resume}: already at step {start}; give --steps > {start}")
    elif cfg.pretrained:
        report = load_pretrained(model.encoder, cfg.pretrained)
    model.to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if world > 1:
        if cuda:
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])

    if main_rank:
        os.makedirs(cfg.out, exist_ok=True)
        _atomic_write_text(
            json.dumps(dataclasses.asdict(cfg), indent=2) + "\n",
            os.path.join(cfg.out, "config.json"),
        )
        with open(os.path.join(cfg.out, "command.txt"), "a", encoding="utf-8") as fh:
            fh.write(shlex.join(sys.argv) + "\n")
        if report is not None:
            print(report.summary(), file=sys.stderr)
            _atomic_write_text(report.summary() + "\n", os.path.join(cfg.out, "pretrained.txt"))

    sampler = StepBatchSampler(len(dataset), cfg.batch_size, cfg.seed, rank, start, cfg.steps)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=cfg.num_workers,
        pin_memory=cuda,
        persistent_workers=False,
    )
    batches = iter(loader)
    if ckpt is not None:  # after the loader drew its worker seed, as in an uninterrupted run
        per_rank = ckpt.get("rng_per_rank") or []
        if len(per_rank) == world:
            _set_rng_state(per_rank[rank])
        elif rank == 0 and "rng" in ckpt:
            _set_rng_state(ckpt["rng"])

    bar = None
    if main_rank and cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc="pympas-train", dynamic_ncols=True)
    log = open(os.path.join(cfg.out, "log.jsonl"), "a", encoding="utf-8") if main_rank else None
    net.train()
    t_last, n_last = time.perf_counter(), start
    try:
        for step in range(start, cfg.steps):
            lr = _poly_lr(cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = next(batches)
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            loss, l_seg, l_air = compute_loss(net, photometric, x, y, cfg)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {step + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                terms = torch.stack([loss.detach(), l_seg.detach(), l_air.detach()]).float()
                terms = _mean_across(terms, world).tolist()
                now = time.perf_counter()
                rate = (done - n_last) * cfg.batch_size * world / max(now - t_last, 1e-9)
                t_last, n_last = now, done
                rec = {"step": done, "loss": terms[0], "l_seg": terms[1], "l_air": terms[2]}
                rec.update({"lr": lr, "images_per_s": rate, "time": time.time()})
                if log is not None:
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                if bar is not None:
                    bar.set_postfix(
                        loss=f"{terms[0]:.4f}", seg=f"{terms[1]:.4f}", air=f"{terms[2]:.4f}"
                    )
            if bar is not None:
                bar.update(1)
            if done % cfg.save_every == 0 or done == cfg.steps:
                _checkpoint(cfg, model, optimizer, done, rank, world)
    finally:
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
    return cfg.out


def _checkpoint(
    cfg: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, rank, world
) -> None:
    rng = _rng_state()
    per_rank: list[Any] = [rng]
    if world > 1:
        per_rank = [None] * world
        dist.all_gather_object(per_rank, rng)
    if rank != 0:
        return
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "config": dataclasses.asdict(cfg),
        "pympas_version": __version__,
        "rng": rng,
        "rng_per_rank": per_rank,
        "world_size": world,
    }
    numbered = os.path.join(cfg.out, f"checkpoint_{step:06d}.pt")
    _atomic_save(state, numbered)
    tmp = os.path.join(cfg.out, f"{LAST}.tmp{os.getpid()}")
    try:
        os.link(numbered, tmp)
    except OSError:
        _atomic_save(state, tmp)
    os.replace(tmp, os.path.join(cfg.out, LAST))


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="pympas-train",
        description="Train MPASNet on pseudo-labelled label sets (written by `pympas label`).",
    )
    p.add_argument("labelsets", nargs="*", metavar="LABELSET_DIR", help="label set directories")
    p.add_argument("-o", "--out", required=True, metavar="RUN_DIR", help="run directory")
    p.add_argument(
        "--arch", choices=sorted(CONFIGS),
        help="HRNet (default: w48 on CUDA, w18-small on CPU)",
    )  # fmt: skip
    p.add_argument("--steps", type=int, default=d.steps, help=f"SGD steps (default {d.steps})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per process")
    p.add_argument("--crop", type=int, default=d.crop, help=f"crop size (default {d.crop})")
    p.add_argument("--pretrained", metavar="PATH", help="ImageNet HRNet weights (local file)")
    p.add_argument(
        "--resume", nargs="?", const="last", metavar="CKPT",
        help="continue from CKPT (default RUN_DIR/checkpoint_last.pt)",
    )  # fmt: skip
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument(
        "--amp", action=argparse.BooleanOptionalAction, default=None,
        help="bf16 autocast (default: on for CUDA)",
    )  # fmt: skip
    p.add_argument("--no-air", dest="air", action="store_false", help="ablation: no L_AIR")
    p.add_argument(
        "--air-mode", choices=AIR_MODES, default=d.air_mode,
        help="L_AIR on standardised channels (default) or on raw features (Eq. 7 as printed)",
    )  # fmt: skip
    p.add_argument("--no-sfa", dest="sfa", action="store_false", help="ablation: no SFA")
    p.add_argument("--no-siamese", dest="siamese", action="store_false", help="MPASNet*")
    p.add_argument("--loss", choices=LOSSES, default=d.loss, help="L_SEG (default dice)")
    p.add_argument("--w-air", type=float, default=d.w_air, help="weight of L_AIR")
    p.add_argument("--w-seg", type=float, default=d.w_seg, help="weight of L_SEG")
    p.add_argument("--lr", type=float, default=d.lr, help=f"base learning rate ({d.lr})")
    for name in ("scale_min", "scale_max", "brightness", "contrast", "saturation", "hue"):
        p.add_argument(
            "--" + name.replace("_", "-"), type=float, default=getattr(d, name),
            help=f"augmentation (default {getattr(d, name)})",
        )  # fmt: skip
    p.add_argument("--grayscale-p", type=float, default=d.grayscale_p, help="augmented branch")
    p.add_argument("--save-every", type=int, default=d.save_every, help="checkpoint interval")
    p.add_argument("--log-every", type=int, default=d.log_every, help="log interval")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", dest="num_workers", type=int, default=d.num_workers)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--version", action="version", version=f"pympas {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cfg = TrainConfig(**vars(args))
    if not cfg.labelsets and cfg.resume is None:
        parser.error("at least one LABELSET_DIR is needed (or --resume)")
    try:
        out = train(cfg)
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        print(f"pympas-train: error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run directory: {out} (last checkpoint: {os.path.join(out, LAST)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
