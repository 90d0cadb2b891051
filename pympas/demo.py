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

The CPU configuration stays within 10 minutes on 2 cores where the CPU computes bf16 natively
(twice that in fp32, which the demo says when it starts); ``--quick`` (a tiny scene and
a few training steps) finishes in well under a minute and is what the test suite runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pympas.background import MIN_FRAMES, stationary_background
from pympas.device import resolve_device
from pympas.experiment import (
    GROUND_TRUTHS,
    ExperimentSettings,
    fig4_strip,
    read_gt,
    read_loss_log,
    synthesize,
    train_config,
)
from pympas.files import read_mask, write_text_atomic

#: CPU: within 10 minutes on 2 cores with bf16 (600 steps: the steps that bf16's 2x speed buys
#: in the wall time that 300 fp32 steps took); GPU: the paper's W48 at 640x480; QUICK: the test
#: suite's.
CPU = ExperimentSettings(("corridor", "crossing"), 150, 320, 240, 5, "w18-small", 600, 4, 192)
GPU = ExperimentSettings(("corridor", "crossing"), 300, 640, 480, 5, "w48", 2000, 8, 512)
QUICK = ExperimentSettings(("corridor",), 24, 240, 180, 4, "w18-small", 4, 2, 64)


def settings_for(quick: bool, device: str) -> ExperimentSettings:
    """QUICK if asked, else GPU on a CUDA device and CPU otherwise."""
    if quick:
        return QUICK
    return GPU if device.startswith("cuda") else CPU


def run_demo(
    out: str | os.PathLike,
    settings: ExperimentSettings = CPU,
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
    from pympas.model.checkpoint import LAST, load_model
    from pympas.segmentation import segment_to_folder
    from pympas.train import train

    out = Path(out)
    if (out / "run").exists():
        raise FileExistsError(f"{out} already holds a demo run; choose another -o or remove it")
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    from pympas.model.precision import bf16_supported

    if not bf16_supported(dev):
        log("note: no native bf16 on this device (oneDNN reports none): MPASNet trains in fp32 "
            "and the demo may take about twice as long (up to 20 minutes on 2 cores)")  # fmt: skip
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        return result

    videos: dict[str, Path] = {}
    labelsets: dict[str, Any] = {}  # scene -> all labelled frames
    held_out: dict[str, Any] = {}  # scene -> labelled frames kept out of training
    backgrounds: dict[str, np.ndarray] = {}  # scene -> stationary background of its training frames
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
        train_part, held_out[scene] = labels.split_alternate()
        train_part.save(out / "labels" / scene)
        labelsets[scene] = labels
        if len(train_part) >= MIN_FRAMES:  # what training computes, for the report's strip
            backgrounds[scene] = stationary_background(train_part.frames)

    log(f"[3/5] training MPASNet ({settings.arch}, {settings.steps} steps) on {dev}")
    config = train_config([str(out / "labels" / s) for s in settings.scenes], out / "run",
                          settings, dev)  # fmt: skip
    timed("train", lambda: train(config))

    scales = settings.inference_scales
    log(f"[4/5] segmenting every frame (scales {_scales_text(scales)})")
    model = load_model(out / "run" / LAST, device=dev)
    for scene, video in videos.items():
        timed(
            "segment",
            lambda sc=scene, v=video: segment_to_folder(
                model,
                v,
                out / "pred" / sc,
                device=dev,
                batch_size=settings.batch_size,
                scale=scales,
            ),
        )

    log("[5/5] evaluating against both ground truths (exact silhouettes, annotator-like regions)")
    pred_dirs = {s: out / "pred" / s for s in held_out}
    scores: dict[str, dict[str, Any]] = {}
    for kind, (folder, _) in GROUND_TRUTHS.items():
        gt_held = {s: read_gt(out / "data" / s, held_out[s].frame_indices, kind) for s in held_out}
        scores[kind] = {
            "CM+CRM": evaluate({s: held_out[s].masks_by_frame() for s in held_out}, gt_held),
            "MPASNet": evaluate(pred_dirs, gt_held),
            "MPASNet (every frame)": evaluate(
                pred_dirs, {s: out / "data" / s / folder for s in held_out}
            ),
        }
    doc = {k: {m: ev.to_dict() for m, ev in by.items()} for k, by in scores.items()}
    write_text_atomic(out / "scores.json", json.dumps(doc, indent=2) + "\n")
    report = out / "report.html"
    report_html = _report_html(
        out, settings, held_out, scores, timings, dev, backgrounds, config.bg_ignore,
        config.bg_label,
    )  # fmt: skip
    write_text_atomic(report, report_html)
    for kind, by in scores.items():
        for name, ev in by.items():
            log(f"  {name:<22} mIoU {ev.miou:.4f}  ({GROUND_TRUTHS[kind][1]})")
    log(margin_sentence(scores))
    log(f"report: {report.resolve()}")
    return report


def margin_sentence(scores: dict[str, dict[str, Any]]) -> str:
    """One sentence: MPASNet's mIoU minus its own pseudo-labels' (CM+CRM) on the held-out frames,
    for each ground truth."""
    parts = [
        f"{by['MPASNet'].miou - by['CM+CRM'].miou:+.3f} on the {GROUND_TRUTHS[kind][1]} "
        f"({by['CM+CRM'].miou:.3f} -> {by['MPASNet'].miou:.3f})"
        for kind, by in scores.items()
    ]
    return (
        "MPASNet minus its own pseudo-labels (CM+CRM), mIoU on the held-out frames: "
        + " and ".join(parts)
        + "."
    )


def _report_html(
    out: Path,
    s: ExperimentSettings,
    labelsets: dict[str, Any],
    scores: dict[str, dict[str, Any]],
    timings: dict[str, float],
    device: str,
    backgrounds: dict[str, np.ndarray],
    bg_ignore: float,
    bg_label: str,
) -> str:
    from pympas import __version__
    from pympas.evaluation import PAPER_TABLE1_MIOU
    from pympas.report import html_page, html_table, line_chart_svg

    parts = [
        f'<p class="margin"><b>{html_escape(margin_sentence(scores))}</b></p>',
        '<p class="note">Everything below was generated, labelled, trained and measured by '
        f"<code>pympas demo</code> (pympas {__version__}) on {html_escape(platform.node())} "
        f"({device}, {os.cpu_count()} CPU cores). No ground truth was used for training.</p>",
        _bg_note(bg_ignore, bg_label),
        "<h2>Fig. 4-style results</h2>",
    ]
    for scene, labels in labelsets.items():
        i = len(labels) // 2
        idx = int(labels.frame_indices[i])
        pred = read_mask(out / "pred" / scene / f"{idx:06d}.png")
        gts = [
            (f"ground truth: {caption}", read_gt(out / "data" / scene, [idx], kind)[idx])
            for kind, (_, caption) in GROUND_TRUTHS.items()
        ]
        parts.append(f"<h3>{html_escape(scene)}, frame {idx}</h3>")
        preds = [("MPASNet prediction", pred)]
        bg = backgrounds.get(scene)
        parts.append(fig4_strip(labels, i, preds, gts, min(240, s.height), bg, bg_ignore,
                                bg_label))  # fmt: skip
    names = list(labelsets)
    header = ["method", *names, "mIoU", "paper mIoU"]
    for kind, by in scores.items():
        rows = []
        for method, ev in by.items():
            paper = PAPER_TABLE1_MIOU.get(method, float("nan"))
            rows.append([method, *(ev[n].iou for n in names), ev.miou, paper])
        parts.append(f"<h2>IoU (Table 1 style), ground truth: {GROUND_TRUTHS[kind][1]}</h2>")
        parts.append(html_table(header, rows))
    parts.append(
        '<p class="note">Scores: intersection and union summed per scene over the held-out '
        f"labelled frames (every other labelled frame, one in {2 * s.stride}), whose "
        "pseudo-labels were not used for training; the last row scores MPASNet on every frame. "
        f"MPASNet segmented the frames at scales {_scales_text(s.inference_scales)} with its "
        "logits averaged (the frames' own size and the scale at which the CRM discs of radius "
        f"{s.crm_radius:g} px have the paper's 20 px), its masks scored at the frames' size. "
        "Exact silhouettes: the pixels where a person is drawn. Annotator-like regions: the "
        "silhouettes closed at 0.3 of each person's height and hole-filled, so that people "
        "walking together form one region, as a labelme polygon would. "
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
    cfg = dataclasses.asdict(s) | {
        "crm_radius": s.crm_radius,
        "inference_scales": _scales_text(s.inference_scales),
    }
    parts.append("<h2>Configuration and timings</h2>")
    parts.append(html_table(["setting", "value"], [[k, str(v)] for k, v in cfg.items()]))
    parts.append(html_table(["stage", "seconds"], [[k, f"{v:.1f}"] for k, v in timings.items()]))
    return html_page("pympas demo: unsupervised crowd segmentation", "\n".join(parts))


def _scales_text(scales: tuple[float, ...]) -> str:
    """``(1.0, 2.0)`` -> ``"1 and 2"``."""
    return " and ".join(f"{x:g}" for x in scales)


def _bg_note(bg_ignore: float, bg_label: str) -> str:
    """The report's sentence on what L_SEG was trained on."""
    if bg_ignore <= 0:
        return '<p class="note">L_SEG was trained on every CM+CRM pixel (the paper\'s form).</p>'
    told = "ignored, shown grey in" if bg_label == "ignore" else "labelled background, as shown in"
    return (
        '<p class="note">L_SEG saw the CM+CRM pixels whose colour lies within '
        f"{bg_ignore:g} of the stationary background (the per-pixel median of the training "
        f'frames; the camera is fixed) {told} the "L_SEG target" panel; every other '
        "pixel kept its CM+CRM label (<code>pympas train --bg-ignore 0</code> is the paper's "
        "form).</p>"
    )


def html_escape(text: str) -> str:
    import html

    return html.escape(text)
