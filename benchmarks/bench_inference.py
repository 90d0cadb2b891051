"""Inference frames/s on the CPU: PyTorch fp32, PyTorch bf16 and ONNX Runtime, side by side.

    python benchmarks/bench_inference.py [--arch w18-small] [--size 320x240] [--batch 1]
                                         [--threads 1] [--rounds 5] [--seconds 3] [--json F]

The network is MPASNet's inference path (encoder, psi, head; ImageNet normalisation inside) with
random weights (the head scaled to logits of standard deviation 5, a trained network's range),
on random frames of --size (padded to multiples of 32 as ``pympas.segment``
does: 320x240 runs at 320x256). Three ways to run it:

- PyTorch fp32 (``torch.inference_mode``);
- PyTorch bf16: autocast to bfloat16 with channels_last, only where the CPU has native bf16
  (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``; elsewhere it is emulated and skipped);
- ONNX Runtime (CPU execution provider) on the model exported by ``pympas export``.

Both runtimes get --threads threads. The measurements are interleaved: each round runs every
way for about --seconds, and the table gives the median over the rounds of frames per
wall-clock second and per CPU second of the process (the steadier figure on a shared machine),
and each way's ratio to PyTorch fp32 taken within a round. The largest logit difference of each
way against PyTorch fp32 on the same frames is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _timed(fn, seconds: float) -> tuple[int, float, float]:
    """Runs fn at least twice and for ``seconds``: (calls, wall seconds, process CPU seconds)."""
    fn()  # warm-up
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and n >= 2:
            return n, dt, time.process_time() - c0


def _checkpoint(arch: str, folder: Path) -> Path:
    import dataclasses

    from pympas.config import TrainConfig
    from pympas.model.checkpoint import write_checkpoint
    from pympas.model.mpasnet import MPASNet

    torch.manual_seed(0)
    model = MPASNet(arch).eval()
    with torch.inference_mode():  # logits of a trained network's range (std 5), not +-0.01
        x = torch.rand(1, 3, 128, 128)
        scale = 5.0 / model(x).std()
        model.head.weight *= scale
        model.head.bias *= scale
    state = {
        "format": "pympas-checkpoint",
        "model": model.state_dict(),
        "step": 0,
        "config": dataclasses.asdict(TrainConfig(arch=arch, out=str(folder))),
    }
    return write_checkpoint(state, folder, 0)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="w18-small")
    ap.add_argument("--size", default="320x240", help="frame WIDTHxHEIGHT")
    ap.add_argument("--batch", type=int, default=1, help="frames per forward pass")
    ap.add_argument("--threads", type=int, default=1, help="threads of each runtime")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0, help="per way and round")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    import onnxruntime as ort

    from pympas.export import export_onnx
    from pympas.model.checkpoint import load_model
    from pympas.segmentation import SIZE_MULTIPLE

    width, height = (int(v) for v in args.size.lower().split("x"))
    h = height + (-height) % SIZE_MULTIPLE
    w = width + (-width) % SIZE_MULTIPLE
    torch.set_num_threads(args.threads)
    x = torch.rand(args.batch, 3, h, w, generator=torch.Generator().manual_seed(1))
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = _checkpoint(args.arch, Path(tmp))
        model = load_model(ckpt)
        onnx_path = export_onnx(ckpt, Path(tmp) / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    bf16_ok = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    x_np = x.numpy()
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def fp32():
        with torch.inference_mode():
            return model(x)

    bf16_model = None
    if bf16_ok:
        import copy

        bf16_model = copy.deepcopy(model).to(memory_format=torch.channels_last)

    def bf16():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return bf16_model(x_cl)

    def onnxrt():
        return session.run(["logits"], {"image": x_np})[0]

    ways = {"pytorch fp32": fp32, "onnx runtime": onnxrt}
    if bf16_ok:
        ways["pytorch bf16"] = bf16
    reference = fp32().numpy()
    max_diff = {
        name: float(np.abs(np.asarray(torch.as_tensor(fn()).float()) - reference).max())
        for name, fn in ways.items()
    }
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, fn in ways.items():
            n, dt, cpu = _timed(fn, args.seconds)
            rounds[name].append((n * args.batch / dt, n * args.batch / max(cpu, 1e-9)))
    base = rounds["pytorch fp32"]
    rows = []
    for name, vals in rounds.items():
        ratio = [v[0] / b[0] for v, b in zip(vals, base, strict=True)]
        ratio_cpu = [v[1] / b[1] for v, b in zip(vals, base, strict=True)]
        rows.append(
            {
                "way": name,
                "frames_per_s": statistics.median(v[0] for v in vals),
                "frames_per_cpu_s": statistics.median(v[1] for v in vals),
                "ratio_to_fp32": statistics.median(ratio),
                "ratio_to_fp32_cpu": statistics.median(ratio_cpu),
                "max_logit_diff_vs_fp32": max_diff[name],
            }
        )
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"MPASNet {args.arch} inference, {width}x{height} frames (run at {w}x{h}), batch "
        f"{args.batch}, {args.threads} thread(s), {args.rounds} interleaved rounds of "
        f"{args.seconds:g} s"
    )
    print(
        f"CPU: {_cpu_name()}, {os.cpu_count()} logical; torch "
        f"{torch.__version__}, onnxruntime {ort.__version__}; native bf16: {bf16_ok}; load "
        f"average at the end: {load}"
    )
    print(
        f"{'way':<14} {'frames/s':>9} {'frames/CPU-s':>13} {'x fp32':>7} {'x fp32 (CPU)':>13} "
        f"{'max |dlogit|':>13}"
    )
    for r in rows:
        print(
            f"{r['way']:<14} {r['frames_per_s']:>9.2f} {r['frames_per_cpu_s']:>13.2f} "
            f"{r['ratio_to_fp32']:>7.2f} {r['ratio_to_fp32_cpu']:>13.2f} "
            f"{r['max_logit_diff_vs_fp32']:>13.2e}"
        )
    if not bf16_ok:
        print("pytorch bf16: skipped (no native bf16 on this CPU)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
