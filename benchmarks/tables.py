"""The paper's Tables 1 and 2 on the six-scene synthetic suite, trained on pseudo-labels only.

Protocol (fixed before looking at any score; nothing is tuned on ground truth):

- Render the suite (``pympas.synth.render_suite``) or reuse one (``--suite``).
- Pseudo-label every scene (``pympas.label``, one frame in ``--stride``, CRM radius 20 px scaled
  to the width). Alternate labelled frames are split: frames 0, 2, 4, ... train, frames 1, 3,
  5, ... are the annotated test frames. Every score is the per-scene IoU (intersection and union
  summed over a scene's test frames) and the mIoU over scenes, against the exact ground truth.
- Table 1 (all scenes, as in the paper): CM+CRM (the pseudo-labels themselves on the test
  frames), MPASNet* (no siamese branch) and MPASNet, trained on the training frames of all six
  scenes.
- Table 2 (ablation, all scenes): MPASNet without L_AIR, without SFA, without both (= MPASNet*),
  with cross entropy instead of Dice, and two rows of the paper's equations taken literally:
  Eq. 6 divided by W'H', and L_AIR on raw features (Eq. 7 as printed; MPASNet itself uses
  L_AIR on standardised channels, see ``pympas.model.losses.air_loss``).
- Cross-scene: CM+CRM, MPASNet* and MPASNet trained on four scenes and tested on the two
  unseen ones (``--test-scenes``, fixed a priori: ring and plaza).
- Threshold 0.5 on the sigmoid, no post-processing, the last checkpoint of each run.

Writes OUT/tables.md (markdown next to the paper's figures) and OUT/tables.json. Training runs
live in OUT/runs/<setting>/<variant>/; a finished run is reused when the script is run again
with the same options, so an interrupted benchmark resumes.

    python benchmarks/tables.py -o bench-tables                      # full size (GPU: W48)
    python benchmarks/tables.py -o bench-tables --frames 60 --size 320x240 --stride 4 \\
        --steps 50 --crop 128 --batch-size 4                          # reduced, CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from pympas import __version__
from pympas.demo import (
    DemoSettings,
    masks_by_frame,
    predict_frames,
    read_gt,
    split_labelset,
    train_config,
)
from pympas.evaluation import PAPER_TABLE1_MIOU, Evaluation, evaluate
from pympas.report import write_text_atomic

SCENES = ("corridor", "crossing", "bottleneck", "split", "ring", "plaza")
#: variant name -> TrainConfig switches; (AIR, SFA, loss) describe the Table 2 row
VARIANTS: dict[str, dict[str, Any]] = {
    "MPASNet": {},
    "MPASNet*": {"siamese": False},
    "w/o AIR": {"air": False},
    "w/o SFA": {"sfa": False},
    "CE instead of Dice": {"loss": "ce"},
    "literal Eq. 6 Dice": {"loss": "dice-literal"},
    "raw-feature AIR": {"air_mode": "raw"},
}
TABLE2_FLAGS = {  # variant -> (AIR, SFA, L_SEG)
    "MPASNet": ("yes", "yes", "Dice"),
    "w/o AIR": ("-", "yes", "Dice"),
    "w/o SFA": ("yes", "-", "Dice"),
    "MPASNet*": ("-", "-", "Dice"),
    "CE instead of Dice": ("yes", "yes", "CE"),
    "literal Eq. 6 Dice": ("yes", "yes", "Dice / (W'H')"),
    "raw-feature AIR": ("raw Eq. 7", "yes", "Dice"),
}
CROSS_VARIANTS = ("MPASNet*", "MPASNet")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 320x240, got {text!r}") from exc
    return w, h


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--suite", help="an existing suite from `pympas synth suite` (else rendered)")
    p.add_argument("--frames", type=int, default=300, help="frames per scene (300)")
    p.add_argument("--size", type=_size, default=(640, 480), help="WxH (640x480)")
    p.add_argument("--stride", type=int, default=10, help="one labelled frame in N (10)")
    p.add_argument("--steps", type=int, default=2000, help="training steps per run (2000)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--crop", type=int, default=512)
    p.add_argument("--arch", default=None, help="w48 on CUDA, w18-small on CPU by default")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-scenes", default="ring,plaza", help="cross-scene test scenes")
    p.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"subset of {', '.join(VARIANTS)}"
    )
    p.add_argument("--no-cross", action="store_true", help="skip the cross-scene setting")
    return p.parse_args(argv)


def _suite(args: argparse.Namespace, out: Path) -> Path:
    if args.suite:
        suite = Path(args.suite)
        missing = [s for s in SCENES if not (suite / s / "gt").is_dir()]
        if missing:
            sys.exit(f"tables: {suite} lacks scene folders {missing}")
        return suite
    suite = out / "suite"
    if not (suite / "suite.json").is_file():
        from pympas import synth

        w, h = args.size
        print(f"rendering the suite: {args.frames} frames at {w}x{h}", flush=True)
        synth.render_suite(suite, seed=args.seed, frames=args.frames, size=(w, h), progress=True)
    return suite


def _video(scene_dir: Path) -> Path:
    for name in ("video.mp4", "video.avi"):
        if (scene_dir / name).is_file():
            return scene_dir / name
    raise FileNotFoundError(f"{scene_dir}: no video.mp4 or video.avi")


def _labels(suite: Path, out: Path, stride: int, width: int) -> dict[str, Any]:
    """Training label sets saved under OUT/labels/<scene>; returns scene -> held-out LabelSet."""
    import pympas
    from pympas.labels import LabelSet

    held: dict[str, Any] = {}
    for scene in SCENES:
        train_dir, held_dir = out / "labels" / scene, out / "heldout" / scene
        if train_dir.is_dir() and held_dir.is_dir():
            held[scene] = LabelSet.load(held_dir)
            continue
        print(f"pseudo-labels: {scene}", flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = pympas.label(
                _video(suite / scene), stride=stride, radius=20.0 * width / 640, progress=False
            )
        train_part, held[scene] = split_labelset(labels)
        train_part.save(train_dir, overwrite=True)
        held[scene].save(held_dir, overwrite=True)
    return held


def _train(
    out: Path, setting: str, variant: str, scenes: list[str], s: DemoSettings, device: str
) -> tuple[Any, float]:
    from pympas.train import LAST, load_model, train

    run = out / "runs" / setting / variant.replace("/", "").replace(" ", "_").replace("*", "-star")
    t0 = time.perf_counter()
    if (run / LAST).is_file():
        print(f"reusing the finished run {run}", flush=True)
    else:
        if run.exists():
            import shutil

            shutil.rmtree(run)
        print(f"training {setting}/{variant} on {len(scenes)} scenes ({s.steps} steps)", flush=True)
        labelsets = [str(out / "labels" / sc) for sc in scenes]
        train(train_config(labelsets, run, s, device, **VARIANTS[variant]))
    return load_model(run / LAST, device=device), time.perf_counter() - t0


def _score(held: dict[str, Any], suite: Path, scenes: list[str], pred: dict | None) -> Evaluation:
    gt = {sc: read_gt(suite / sc, held[sc].frame_indices) for sc in scenes}
    if pred is None:  # CM+CRM: the pseudo-labels of the test frames
        pred = {sc: masks_by_frame(held[sc]) for sc in scenes}
    return evaluate(pred, gt)


def _fmt(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def _coverage(ev: Evaluation) -> float:
    """Predicted crowd pixels over ground-truth crowd pixels: ~1/coverage of the ground truth
    flags a network that marks everything as crowd, 0 one that marks nothing."""
    return sum(s.pred_pixels for s in ev.scenes) / max(1, sum(s.gt_pixels for s in ev.scenes))


def _table(title: str, scores: dict[str, Evaluation], scenes: list[str], paper: bool) -> list[str]:
    head = ["method", *scenes, "mIoU", "pred/gt px"] + (["paper mIoU"] if paper else [])
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, ev in scores.items():
        row = [name, *(_fmt(ev[sc].iou) for sc in scenes), f"**{_fmt(ev.miou)}**",
               f"{_coverage(ev):.2f}"]  # fmt: skip
        if paper:
            row.append(_fmt(PAPER_TABLE1_MIOU.get(name)))
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _targets(t1: dict[str, Evaluation], t2: dict[str, Evaluation]) -> list[str]:
    out = []
    if {"CM+CRM", "MPASNet"} <= set(t1):
        gain = t1["MPASNet"].miou - t1["CM+CRM"].miou
        ok = "met" if gain >= 0.10 else "MISSED"
        out.append(f"- MPASNet - CM+CRM = {gain:+.4f} mIoU (target >= +0.10; paper +0.1498): {ok}")
    if {"CM+CRM", "MPASNet", "MPASNet*"} <= set(t1):
        lo, mid, hi = t1["CM+CRM"].miou, t1["MPASNet*"].miou, t1["MPASNet"].miou
        ok = "met" if lo <= mid <= hi else "MISSED"
        out.append(f"- CM+CRM <= MPASNet* <= MPASNet ({lo:.4f}, {mid:.4f}, {hi:.4f}): {ok}")
    if "MPASNet" in t2:
        for name, ev in t2.items():
            if name != "MPASNet":
                d = ev.miou - t2["MPASNet"].miou
                ok = "costs accuracy" if d < 0 else "MISSED (no loss of accuracy)"
                out.append(f"- {name}: {d:+.4f} mIoU vs MPASNet: {ok}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from pympas.segmentation import resolve_device

    device = str(resolve_device(args.device))
    arch = args.arch or ("w48" if device.startswith("cuda") else "w18-small")
    w, h = args.size
    s = DemoSettings(SCENES, args.frames, w, h, args.stride, arch, args.steps, args.batch_size,
                     args.crop, seed=args.seed)  # fmt: skip
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    test_scenes = [t.strip() for t in args.test_scenes.split(",") if t.strip()]
    if unknown or any(t not in SCENES for t in test_scenes):
        sys.exit(f"tables: unknown variants {unknown} or test scenes {test_scenes}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    suite = _suite(args, out)
    held = _labels(suite, out, args.stride, w)
    scenes = list(SCENES)
    timings: dict[str, float] = {}

    def predict(model: Any, test: list[str]) -> dict[str, dict[int, np.ndarray]]:
        return {sc: predict_frames(model, held[sc], device, args.batch_size) for sc in test}

    all_scores: dict[str, Evaluation] = {"CM+CRM": _score(held, suite, scenes, None)}
    for v in variants:
        model, timings[f"all/{v}"] = _train(out, "all", v, scenes, s, device)
        all_scores[v] = _score(held, suite, scenes, predict(model, scenes))
        print(f"all scenes, {v}: mIoU {all_scores[v].miou:.4f}", flush=True)

    cross_scores: dict[str, Evaluation] = {}
    if not args.no_cross:
        train_scenes = [sc for sc in scenes if sc not in test_scenes]
        cross_scores["CM+CRM"] = _score(held, suite, test_scenes, None)
        for v in (v for v in CROSS_VARIANTS if v in variants):
            model, timings[f"cross/{v}"] = _train(out, "cross", v, train_scenes, s, device)
            cross_scores[v] = _score(held, suite, test_scenes, predict(model, test_scenes))
            print(f"cross-scene, {v}: mIoU {cross_scores[v].miou:.4f}", flush=True)

    t1 = {k: all_scores[k] for k in ("CM+CRM", "MPASNet*", "MPASNet") if k in all_scores}
    t2 = {k: all_scores[k] for k in TABLE2_FLAGS if k in all_scores}
    frames_test = sum(len(held[sc]) for sc in scenes)
    config = dataclasses.asdict(s) | {"device": device, "test_scenes": test_scenes,
                                      "test_frames": frames_test}  # fmt: skip
    machine = f"{platform.node()}, {platform.processor() or platform.machine()}, "
    machine += f"{os.cpu_count()} CPU cores" + (f", {device}" if device != "cpu" else "")
    md = [
        "# MPASNet tables on the synthetic suite",
        "",
        f"pympas {__version__}; {machine}; total {time.perf_counter() - t_start:.0f} s.",
        f"Config: {json.dumps(config)}",
        "",
        "Paper figures (Table 1, real footage): CM+CRM 0.4949, MPASNet 0.6447 mIoU. IoU is summed",
        "over each scene's held-out labelled frames (never used for training). pred/gt px: crowd",
        "pixels predicted over ground-truth crowd pixels (about 1/coverage = everything marked",
        "crowd, 0 = nothing marked).",
        "",
        *_table("Table 1: all scenes", t1, scenes, paper=True),
        "### Table 2: ablation (all scenes)",
        "",
        "| AIR | SFA | L_SEG | variant | mIoU | vs MPASNet | pred/gt px |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, ev in t2.items():
        air, sfa, loss = TABLE2_FLAGS[name]
        d = ev.miou - t2["MPASNet"].miou if "MPASNet" in t2 else float("nan")
        cells = [air, sfa, loss, name, _fmt(ev.miou), f"{d:+.4f}", f"{_coverage(ev):.2f}"]
        md.append("| " + " | ".join(cells) + " |")
    md.append("")
    if cross_scores:
        md += _table(f"Cross-scene: trained on 4 scenes, tested on {', '.join(test_scenes)}",
                     cross_scores, test_scenes, paper=False)  # fmt: skip
    md += ["### Targets", "", *_targets(t1, t2), ""]
    text = "\n".join(md)
    write_text_atomic(out / "tables.md", text + "\n")
    doc = {
        "pympas_version": __version__,
        "machine": machine,
        "config": config,
        "paper_table1_miou": PAPER_TABLE1_MIOU,
        "all_scenes": {k: v.to_dict() for k, v in all_scores.items()},
        "cross_scene": {k: v.to_dict() for k, v in cross_scores.items()},
        "train_seconds": timings,
        "total_seconds": time.perf_counter() - t_start,
    }
    write_text_atomic(out / "tables.json", json.dumps(doc, indent=2) + "\n")
    print(text)
    print(f"wrote {out / 'tables.md'} and {out / 'tables.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
