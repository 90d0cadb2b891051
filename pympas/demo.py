"""``pympas demo``: the whole method on a generated crowd scene, ending in an offline HTML report.

Steps (each one the package's public API):

1. ``pympas.synth``: simulate and render a small crowd scene with exact ground-truth masks;
2. ``pympas.label``: motion-prior pseudo-labels (KLT particles -> collectiveness -> CRM, "CM+CRM");
3. ``pympas.train``: MPASNet trained on the pseudo-labels only (w18-small on CPU, w48 on a GPU);
4. ``pympas.segment``: masks for every frame;
5. ``pympas.evaluate``: IoU per scene and mIoU of the pseudo-labels and of MPASNet against the
   ground truth on held-out labelled frames (every other labelled frame is kept out of
   training; Table 1 style) and, for MPASNet, on every frame;
6. ``report.html``: a Fig. 4-style strip per scene (frame, motion particles, pseudo-label,
   prediction, ground truth), the IoU table and the loss curve, images inlined.

The CPU configuration stays within about 10 minutes on 2 cores; ``--quick`` (a tiny scene and
a few training steps) finishes in well under a minute and is what the test suite runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of one demo run. ``radius`` None scales the paper's 20 px at 640 px width."""

    scenes: tuple[str, ...]
    frames: int  # rendered frames per scene
    width: int
    height: int
    stride: int  # one labelled frame in ``stride``
    arch: str
    steps: int
    batch_size: int
    crop: int
    radius: float | None = None
    density: float = 1.0
    seed: int = 0

    @property
    def crm_radius(self) -> float:
        """CRM disc radius in pixels (paper: 20 at its resolution; scaled with the width here)."""
        return self.radius if self.radius is not None else 20.0 * self.width / 640.0


#: CPU: about 10 minutes on 2 cores; GPU: the paper's W48 at 640x480; QUICK: the test suite's.
CPU = DemoSettings(("corridor", "crossing"), 150, 320, 240, 5, "w18-small", 300, 4, 192)
GPU = DemoSettings(("corridor", "crossing"), 300, 640, 480, 5, "w48", 2000, 8, 512)
QUICK = DemoSettings(("corridor",), 24, 240, 180, 4, "w18-small", 4, 2, 64)


def settings_for(quick: bool, device: str) -> DemoSettings:
    """QUICK if asked, else GPU on a CUDA device and CPU otherwise."""
    if quick:
        return QUICK
    return GPU if device.startswith("cuda") else CPU


def synthesize(scenario: str, out_dir: Path, s: DemoSettings) -> Path:
    """Render one scene with ``pympas.synth`` into ``out_dir``; returns its video file."""
    from pympas import synth

    info = synth.render_scene(
        scenario, out_dir, frames=s.frames, size=(s.width, s.height), seed=s.seed,
        density=s.density,
    )  # fmt: skip
    return Path(info.video)


def read_loss_log(run_dir: Path) -> dict[str, list[float]]:
    """Columns step, loss, l_seg, l_air of a training run's log.jsonl."""
    cols: dict[str, list[float]] = {"step": [], "loss": [], "l_seg": [], "l_air": []}
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return cols
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            for k in cols:
                cols[k].append(float(rec.get(k, float("nan"))))
    return cols


def read_gt(scene_dir: Path, indices: Any) -> dict[int, np.ndarray]:
    """Ground-truth masks gt/NNNNNN.png of a synthetic scene: frame index -> (H, W) bool."""
    from pympas.evaluation import read_mask

    return {int(i): read_mask(Path(scene_dir) / "gt" / f"{int(i):06d}.png") for i in indices}


def split_labelset(labels: Any) -> tuple[Any, Any]:
    """Split a LabelSet into alternate labelled frames: (training frames 0, 2, 4, ...;
    held-out frames 1, 3, 5, ...). Scores are taken on the held-out frames only, so neither
    the pseudo-labels' nor the network's IoU is measured on a frame the network trained on."""

    def take(sel: slice) -> Any:
        idx = np.arange(len(labels))[sel]
        return dataclasses.replace(
            labels,
            frame_indices=labels.frame_indices[idx],
            frames=labels.frames[idx],
            masks=labels.masks[idx],
            particles=[labels.particles[i] for i in idx],
            counts=[labels.counts[i] for i in idx] if labels.counts else [],
        )

    if len(labels) < 2:
        raise ValueError(
            f"{labels.source}: {len(labels)} labelled frame(s); at least 2 are needed to hold "
            "one out (use more frames or a smaller stride)"
        )
    return take(slice(0, None, 2)), take(slice(1, None, 2))


def masks_by_frame(labels: Any) -> dict[int, np.ndarray]:
    """A LabelSet's pseudo-masks as frame index -> (H, W) bool."""
    return {int(i): m for i, m in zip(labels.frame_indices, labels.masks, strict=True)}


def predict_frames(model: Any, labels: Any, device: str, batch_size: int) -> dict[int, np.ndarray]:
    """MPASNet masks of a LabelSet's frames: frame index -> (H, W) bool."""
    from pympas.segmentation import segment

    stream = segment(model, labels.frames, device=device, batch_size=batch_size)
    return {int(labels.frame_indices[j]): m for j, m in stream}


def train_config(labelsets: list[str], out: Path, s: DemoSettings, device: str, **kw: Any) -> Any:
    """The TrainConfig of a demo/benchmark run (CPU-friendly loader, quiet progress)."""
    from pympas.train import TrainConfig

    return TrainConfig(
        labelsets=labelsets, out=str(out), arch=s.arch, steps=s.steps, batch_size=s.batch_size,
        crop=s.crop, device=device, save_every=s.steps, log_every=max(1, s.steps // 50),
        seed=s.seed, num_workers=0, progress=False, **kw,
    )  # fmt: skip


def run_demo(
    out: str | os.PathLike,
    settings: DemoSettings = CPU,
    *,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> Path:
    """Run the demo into ``out`` and return the path of ``out/report.html``.

    ``out`` gets data/<scene>/ (synthetic scene), labels/<scene>/ (the label set of the
    training frames), run/ (training log and checkpoints), pred/<scene>/ (a mask for every
    frame), scores.json and report.html.
    """
    import pympas
    from pympas.evaluation import evaluate
    from pympas.report import write_text_atomic
    from pympas.segmentation import resolve_device, segment_to_folder
    from pympas.train import LAST, load_model, train

    out = Path(out)
    if (out / "run").exists():
        raise FileExistsError(f"{out} already holds a demo run; choose another -o or remove it")
    out.mkdir(parents=True, exist_ok=True)
    dev = str(resolve_device(device))
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        return result

    videos: dict[str, Path] = {}
    labelsets: dict[str, Any] = {}  # scene -> all labelled frames
    held_out: dict[str, Any] = {}  # scene -> labelled frames kept out of training
    for scene in settings.scenes:
        log(f"[1/5] synthesizing scene {scene!r} ({settings.frames} frames, "
            f"{settings.width}x{settings.height})")  # fmt: skip
        videos[scene] = timed("synth", lambda sc=scene: synthesize(sc, out / "data" / sc, settings))
        log(f"[2/5] pseudo-labels of {scene!r} (one frame in {settings.stride})")
        labels = timed(
            "label",
            lambda v=videos[scene]: pympas.label(
                v, stride=settings.stride, radius=settings.crm_radius, progress=False
            ),
        )
        train_part, held_out[scene] = split_labelset(labels)
        train_part.save(out / "labels" / scene)
        labelsets[scene] = labels

    log(f"[3/5] training MPASNet ({settings.arch}, {settings.steps} steps) on {dev}")
    config = train_config([str(out / "labels" / s) for s in settings.scenes], out / "run",
                          settings, dev)  # fmt: skip
    timed("train", lambda: train(config))

    log("[4/5] segmenting every frame")
    model = load_model(out / "run" / LAST, device=dev)
    for scene, video in videos.items():
        timed(
            "segment",
            lambda sc=scene, v=video: segment_to_folder(
                model, v, out / "pred" / sc, device=dev, batch_size=settings.batch_size
            ),
        )

    log("[5/5] evaluating against the exact ground truth")
    gt_held = {s: read_gt(out / "data" / s, held_out[s].frame_indices) for s in held_out}
    pred_dirs = {s: out / "pred" / s for s in held_out}
    scores = {
        "CM+CRM": evaluate({s: masks_by_frame(held_out[s]) for s in held_out}, gt_held),
        "MPASNet": evaluate(pred_dirs, gt_held),
        "MPASNet (every frame)": evaluate(
            pred_dirs, {s: out / "data" / s / "gt" for s in held_out}
        ),
    }
    write_text_atomic(
        out / "scores.json",
        json.dumps({k: v.to_dict() for k, v in scores.items()}, indent=2) + "\n",
    )
    report = out / "report.html"
    write_text_atomic(report, _report_html(out, settings, held_out, scores, timings, dev))
    for name, ev in scores.items():
        log(f"  {name:<22} mIoU {ev.miou:.4f}")
    log(f"report: {report.resolve()}")
    return report


def fig4_strip(
    labels: Any, i: int, predictions: list[tuple[str, np.ndarray]], gt: np.ndarray, height: int
) -> str:
    """A Fig. 4-style strip of the i-th frame of a LabelSet: the frame, its motion particles,
    the CM+CRM pseudo-label, each (caption, (H, W) bool mask) prediction, the ground truth."""
    from pympas.report import image_strip
    from pympas.segmentation import overlay_mask

    frame = labels.frames[i]
    return image_strip(
        [
            ("frame", frame),
            ("motion particles (kept / outliers)", labels.overlay(i)),
            ("CM+CRM pseudo-label", overlay_mask(frame, labels.masks[i])),
            *((name, overlay_mask(frame, mask)) for name, mask in predictions),
            ("ground truth", overlay_mask(frame, gt, (40, 200, 40))),
        ],
        height=height,
    )


def _report_html(
    out: Path,
    s: DemoSettings,
    labelsets: dict[str, Any],
    scores: dict[str, Any],
    timings: dict[str, float],
    device: str,
) -> str:
    from pympas import __version__
    from pympas.evaluation import PAPER_TABLE1_MIOU, read_mask
    from pympas.report import html_page, html_table, line_chart_svg

    parts = [
        '<p class="note">Everything below was generated, labelled, trained and measured by '
        f"<code>pympas demo</code> (pympas {__version__}) on {html_escape(platform.node())} "
        f"({device}, {os.cpu_count()} CPU cores). No ground truth was used for training.</p>",
        "<h2>Fig. 4-style results</h2>",
    ]
    for scene, labels in labelsets.items():
        i = len(labels) // 2
        idx = int(labels.frame_indices[i])
        pred = read_mask(out / "pred" / scene / f"{idx:06d}.png")
        gt = read_mask(out / "data" / scene / "gt" / f"{idx:06d}.png")
        parts.append(f"<h3>{html_escape(scene)}, frame {idx}</h3>")
        parts.append(fig4_strip(labels, i, [("MPASNet prediction", pred)], gt, min(240, s.height)))
    names = list(labelsets)
    header = ["method", *names, "mIoU", "paper mIoU"]
    rows = []
    for method, ev in scores.items():
        paper = PAPER_TABLE1_MIOU.get(method, float("nan"))
        rows.append([method, *(ev[n].iou for n in names), ev.miou, paper])
    parts.append("<h2>IoU (Table 1 style)</h2>")
    parts.append(html_table(header, rows))
    parts.append(
        '<p class="note">Scores: intersection and union summed per scene over the held-out '
        f"labelled frames (every other labelled frame, one in {2 * s.stride}), whose "
        "pseudo-labels were not used for training; the last row scores MPASNet on every frame. "
        "The paper's figures are on real footage (CUHK Crowd, Collective Motion Database) and "
        "are shown for orientation only.</p>"
    )
    loss = read_loss_log(out / "run")
    parts.append("<h2>Training loss</h2>")
    parts.append(
        line_chart_svg(
            loss["step"],
            {"L (total)": loss["loss"], "L_SEG": loss["l_seg"], "L_AIR": loss["l_air"]},
        )
    )
    cfg = dataclasses.asdict(s) | {"crm_radius": s.crm_radius}
    parts.append("<h2>Configuration and timings</h2>")
    parts.append(html_table(["setting", "value"], [[k, str(v)] for k, v in cfg.items()]))
    parts.append(html_table(["stage", "seconds"], [[k, f"{v:.1f}"] for k, v in timings.items()]))
    return html_page("pympas demo: unsupervised crowd segmentation", "\n".join(parts))


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


# --------------------------------------------------------------------------------------------
# CLI


def run(args: argparse.Namespace) -> int:
    try:
        from pympas.segmentation import resolve_device

        dev = str(resolve_device(args.device))
        settings = settings_for(args.quick, dev)
        overrides = {k: getattr(args, k) for k in ("steps", "seed") if getattr(args, k) is not None}
        settings = dataclasses.replace(settings, **overrides)
        run_demo(args.output, settings, device=dev)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"pympas demo: error: {exc}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="generate a crowd scene, label it, train, segment, evaluate; write an HTML report",
        description="The whole method on a generated scene: synth -> pseudo-labels -> MPASNet "
        "training -> segmentation -> IoU against exact ground truth -> OUT/report.html. "
        "About 10 minutes on 2 CPU cores (w18-small); uses W48 on a GPU.",
    )
    p.add_argument("-o", "--output", default="pympas-demo", help="output folder (pympas-demo)")
    p.add_argument("--quick", action="store_true", help="tiny scene, a few steps (< 1 minute)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    p.add_argument("--steps", type=int, help="training steps (overrides the preset)")
    p.add_argument("--seed", type=int, help="seed of the scene and the training (default 0)")
    p.set_defaults(func=run)
