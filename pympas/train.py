"""Training MPASNet on pseudo-labelled label sets (paper Sec. 2.3, Fig. 2): the loss
L = L_AIR + L_SEG (:func:`compute_loss`), the SGD loop with exact resume, and DDP.

Command line: ``pympas train`` (alias ``pympas-train``, :mod:`pympas.cli.train`). Multi-GPU:
``torchrun --nproc_per_node=G -m pympas.train ...`` (PyTorch DDP; ``--batch-size`` is per
process; several machines: ``--nnodes`` and a c10d rendezvous, see the README). Rank 0 alone
writes the run folder; ``--ddp-timeout`` bounds every wait for the other processes, so that one
that dies or hangs fails the run instead of hanging it. The run folder holds ``config.json``,
``command.txt``, ``log.jsonl`` (one JSON object per logged step) and checkpoints
``checkpoint_NNNNNN.pt`` plus ``checkpoint_last.pt``.

Python API: :func:`train` (:class:`pympas.config.TrainConfig` -> run dir). Checkpoints are
read and written by :mod:`pympas.model.checkpoint` (``load_model`` is re-exported here).

Nothing is written before every input was checked (label sets decoded completely, weights and
checkpoint read). A new run that stops before its first checkpoint (an error, Ctrl-C) removes
what it wrote, so no folder that looks like a run is left; a resumed run cuts ``log.jsonl``
back to the checkpoint's step, and every start removes the checkpoint temporaries of killed
runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shlex
import sys
import time
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from pympas._version import __version__
from pympas.config import RESUME_OVERRIDES, TrainConfig, check_config
from pympas.device import torch_device
from pympas.files import LineLog, append_text, output_folder, write_text_atomic
from pympas.model.augment import GeometryParams, Photometric, PhotometricParams
from pympas.model.checkpoint import (
    CHECKPOINT_FORMAT,
    LAST,
    load_model,
    load_weights,
    read_checkpoint,
    write_checkpoint,
)
from pympas.model.data import LabelSetDataset, StepBatchSampler, crm_radius
from pympas.model.hrnet import load_pretrained
from pympas.model.init import init_weights
from pympas.model.losses import air_loss, seg_loss
from pympas.model.mpasnet import MPASNet
from pympas.model.precision import autocast, memory_format, precision_name, resolve_amp

__all__ = ["LAST", "TrainConfig", "compute_loss", "load_model", "read_checkpoint", "train"]


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


# ----------------------------------------------------------------------------- training


_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def saved_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run's stored config (config.json, a checkpoint's ``config``) with the settings it was
    trained with where it predates them."""
    saved = dict(config)
    saved.setdefault("air_mode", "raw")  # runs saved before air_mode existed used raw Eq. 7
    saved.setdefault("init", "torch")  # ... and before init existed, PyTorch's defaults
    saved.setdefault("bg_ignore", 0.0)  # ... and before bg_ignore existed, every CRM pixel
    saved.setdefault("bg_label", "ignore")  # ... and before bg_label existed, floor ignored
    return saved


def _resolve_resume(cfg: TrainConfig) -> tuple[TrainConfig, dict[str, Any], str]:
    path = cfg.resume
    if path in ("last", "") or (path is not None and os.path.isdir(path)):
        path = os.path.join(cfg.out if path in ("last", "") else path, LAST)
    ckpt = read_checkpoint(path)
    if not isinstance(ckpt.get("optimizer"), dict):
        raise ValueError(
            f"{path}: cannot be resumed, it has no optimizer state (a checkpoint stripped for "
            "inference?); start a new run instead"
        )
    saved = saved_config(ckpt["config"])
    merged = TrainConfig(**{k: v for k, v in saved.items() if k in _FIELDS})
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


def _setup_distributed(
    device_pref: str | None, timeout: float
) -> tuple[int, int, torch.device, bool]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch_device("auto" if device_pref is None else device_pref)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
    started = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        # the timeout bounds the rendezvous and every collective: a peer that died or hangs
        # makes the others fail (gloo raises; NCCL's watchdog aborts) instead of waiting forever
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout))
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
    with autocast(x.device, resolve_amp(cfg.amp, x.device)):
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
    check_config(cfg)
    rank, world, device, started_dist = _setup_distributed(cfg.device, cfg.ddp_timeout)
    try:
        return _train(cfg, ckpt, rank, world, device)
    finally:
        if started_dist:
            dist.destroy_process_group()


def _train(cfg: TrainConfig, ckpt: dict | None, rank: int, world: int, device: torch.device) -> str:
    cuda = device.type == "cuda"
    if cfg.arch is None:
        cfg.arch = "w48" if cuda else "w18-small"
    cfg.amp = resolve_amp(cfg.amp, device)  # recorded resolved: True = bf16, False = fp32
    cfg.labelsets = [os.path.abspath(p) for p in cfg.labelsets]
    cfg.out = os.path.abspath(cfg.out)
    main_rank = rank == 0
    last_path = os.path.join(cfg.out, LAST)
    if ckpt is None and os.path.exists(last_path):
        raise ValueError(f"{cfg.out} already holds a run ({last_path}); use --resume or a new -o")
    if not cfg.labelsets:
        raise ValueError("labelsets: at least one LABELSET_DIR is needed")

    dataset = LabelSetDataset(
        cfg.labelsets,
        GeometryParams(cfg.crop, cfg.scale_min, cfg.scale_max, cfg.flip_p),
        bg_ignore=cfg.bg_ignore,
        bg_label=cfg.bg_label,
    )
    photometric = Photometric(
        PhotometricParams(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue, cfg.grayscale_p)
    )
    torch.manual_seed(cfg.seed + rank)
    np.random.seed((cfg.seed + rank) % 2**32)  # noqa: NPY002
    random.seed(cfg.seed + rank)

    model = MPASNet(cfg.arch, sfa=cfg.sfa)
    model.crm_radius = crm_radius(cfg.labelsets)
    report = None
    start = 0
    if ckpt is not None:
        load_weights(model, ckpt["model"], cfg.resume, cfg.arch)
        start = int(ckpt["step"])
        if start >= cfg.steps:
            raise ValueError(f"{cfg.resume}: already at step {start}; give --steps > {start}")
    else:
        # every convolution, the head included: the form measured on the validation seeds (a
        # PyTorch-default head scored 0.049 below it on seed 100)
        init_weights(model, cfg.init)
        if cfg.pretrained:
            report = load_pretrained(model.encoder, cfg.pretrained, partial=cfg.pretrained_partial)
    model.to(device)
    model.to(memory_format=memory_format(cfg.amp))
    net: nn.Module = model
    if world > 1:
        if cuda:
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    if ckpt is not None:
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise ValueError(f"{cfg.resume}: optimizer state does not fit ({exc})") from exc

    made_run_dir = not os.path.exists(cfg.out)
    log_path = os.path.join(cfg.out, "log.jsonl")
    log = None
    written = {"checkpoints": 0}
    try:
        if main_rank:
            output_folder(cfg.out)  # also removes checkpoint temporaries of killed runs
            record = dataclasses.asdict(cfg) | {"precision": precision_name(cfg.amp)}
            config_text = json.dumps(record, indent=2) + "\n"
            write_text_atomic(os.path.join(cfg.out, "config.json"), config_text)
            append_text(os.path.join(cfg.out, "command.txt"), shlex.join(sys.argv) + "\n")
            if report is not None:
                print(report.summary(), file=sys.stderr)
                write_text_atomic(os.path.join(cfg.out, "pretrained.txt"), report.summary() + "\n")
            if ckpt is not None:
                _cut_log(log_path, start)
            log = LineLog(log_path)
        return _loop(cfg, model, net, optimizer, photometric, dataset, start, rank, world,
                     device, log, ckpt, written)  # fmt: skip
    except BaseException:
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()
        if main_rank and ckpt is None and written["checkpoints"] == 0:
            _remove_failed_start(cfg.out, made_run_dir)
        raise


#: what a new run writes before its first checkpoint
_RUN_FILES = ("config.json", "command.txt", "log.jsonl", "pretrained.txt")


def _remove_failed_start(out: str, made_run_dir: bool) -> None:
    """Remove what a new run wrote before it failed without any checkpoint (and its folder, if
    it made it and nothing else is in it): a folder without a checkpoint is no run."""
    for name in _RUN_FILES:
        with contextlib.suppress(OSError):
            os.remove(os.path.join(out, name))
    if made_run_dir:
        with contextlib.suppress(OSError):
            os.rmdir(out)  # only if empty


def _cut_log(path: str, step: int) -> None:
    """Keep the records of ``log.jsonl`` up to ``step`` (the checkpoint a run resumes from), so
    that the resumed run's records follow without repeating steps; a line cut by a kill is
    dropped."""
    if not os.path.exists(path):
        return
    kept = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= step:
                kept.append(line.rstrip("\n") + "\n")
    write_text_atomic(path, "".join(kept))


def _loop(
    cfg: TrainConfig,
    model: nn.Module,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    photometric: Photometric,
    dataset: LabelSetDataset,
    start: int,
    rank: int,
    world: int,
    device: torch.device,
    log: LineLog | None,
    ckpt: dict | None,
    written: dict[str, int],
) -> str:
    cuda = device.type == "cuda"
    main_rank = rank == 0

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
            x = x.contiguous(memory_format=memory_format(cfg.amp))
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
                    log.write(json.dumps(rec))
                if bar is not None:
                    bar.set_postfix(
                        loss=f"{terms[0]:.4f}", seg=f"{terms[1]:.4f}", air=f"{terms[2]:.4f}"
                    )
            if bar is not None:
                bar.update(1)
            if done % cfg.save_every == 0 or done == cfg.steps:
                _checkpoint(cfg, model, optimizer, done, rank, world)
                written["checkpoints"] += 1
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
        "crm_radius": model.crm_radius,  # of the label sets: segment's default scales
        "pympas_version": __version__,
        "rng": rng,
        "rng_per_rank": per_rank,
        "world_size": world,
    }
    write_checkpoint(state, cfg.out, step)


if __name__ == "__main__":  # torchrun -m pympas.train ARGS is pympas train ARGS
    from pympas.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
