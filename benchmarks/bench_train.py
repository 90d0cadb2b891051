"""MPASNet training and inference throughput.

    python benchmarks/bench_train.py [--seconds S] [--cpu-only]

- CPU: w18-small at 256x256, fp32 and bf16 autocast + channels_last side by side: training
  images/s (siamese on: augmented copy, both branches, SFA, L_AIR + L_SEG, backward, SGD step)
  and inference frames/s (eval, psi(F) path), and the bf16/fp32 ratio. The header names the
  CPU (/proc/cpuinfo) and whether oneDNN computes bf16 natively on it (what ``amp="auto"``,
  the training and segmentation default, decides by; without it bf16 is emulated and slow).
- GPU (when CUDA is available): w48 at 512x512, bf16 autocast, channels_last.

Inputs are random tensors already on the device, so the figures are the network's, without
PNG decoding or augmentation in the data loader. Each measurement runs for about --seconds
after a warm-up iteration. Besides images per wall-clock second, images per CPU second of
the process are given: on a shared machine they are the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from pympas.config import TrainConfig
from pympas.model import MPASNet
from pympas.model.augment import Photometric
from pympas.model.precision import autocast, cpu_bf16_supported, memory_format
from pympas.train import compute_loss


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, seconds: float, warmup: int) -> tuple[int, float, float]:
    """Runs fn at least twice and for ``seconds``: (calls, wall seconds, process CPU seconds)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        n += 1
        _sync(device)
        dt = time.perf_counter() - t0
        if dt >= seconds and n >= 2:
            return n, dt, time.process_time() - c0


def bench(arch: str, size: int, batch: int, device: torch.device, amp: bool, seconds: float):
    torch.manual_seed(0)
    cfg = TrainConfig(arch=arch, amp=amp)
    model = MPASNet(arch).to(device)
    fmt = torch.channels_last if device.type == "cuda" else memory_format(amp)
    model.to(memory_format=fmt)
    photometric = Photometric()
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-4)
    x = torch.rand(batch, 3, size, size, device=device)
    y = (torch.rand(batch, 1, size, size, device=device) > 0.5).float()
    x = x.contiguous(memory_format=fmt)

    def train_step():
        loss, _, _ = compute_loss(model, photometric, x, y, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    n, dt, cpu = _timed(train_step, device, seconds, warmup=1)
    train = {"train_images_per_s": n * batch / dt, "train_images_per_cpu_s": n * batch / cpu}

    model.eval()

    @torch.no_grad()
    def infer():
        with autocast(device, amp):
            model(x)

    n, dt, cpu = _timed(infer, device, seconds, warmup=1)
    infer_rates = {"infer_frames_per_s": n * batch / dt, "infer_frames_per_cpu_s": n * batch / cpu}
    return {
        "arch": arch,
        "size": size,
        "batch": batch,
        "device": str(device),
        "dtype": "bf16+channels_last" if amp else "fp32",
        **{k: round(v, 3) for k, v in {**train, **infer_rates}.items()},
    }


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform's guess where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    p.add_argument("--cpu-batch", type=int, default=4)
    p.add_argument("--gpu-batch", type=int, default=8)
    p.add_argument("--cpu-only", action="store_true")
    # one thread by default: on a shared, oversubscribed machine several OpenMP threads wait
    # on each other at every barrier (measured here: 4-10x fewer images per CPU second)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch default)")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    bf16 = cpu_bf16_supported()
    print(
        f"# {cpu_model()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start; "
        f"oneDNN bf16: {'yes' if bf16 else 'no (bf16 emulated, amp=auto picks fp32)'}"
    )
    cpu = torch.device("cpu")
    rows = [bench("w18-small", 256, args.cpu_batch, cpu, False, args.seconds)]
    print(json.dumps(rows[-1]))
    rows.append(bench("w18-small", 256, args.cpu_batch, cpu, True, args.seconds))
    print(json.dumps(rows[-1]))
    ratios = {
        k: round(rows[1][k] / rows[0][k], 2)
        for k in ("train_images_per_s", "infer_frames_per_s")
        if rows[0][k] > 0
    }
    print(f"# CPU bf16+channels_last / fp32: {json.dumps(ratios)}")
    if torch.cuda.is_available() and not args.cpu_only:
        dev = torch.device("cuda")
        print(f"# GPU: {torch.cuda.get_device_name(dev)}")
        rows.append(bench("w48", 512, args.gpu_batch, dev, True, args.seconds))
        print(json.dumps(rows[-1]))


if __name__ == "__main__":
    main()
