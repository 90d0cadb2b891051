"""The paper's Tables 1 and 2 on the six-scene synthetic suite, trained on pseudo-labels only.

Protocol (fixed before looking at any score; nothing is tuned on ground truth):

- Render the suite (``pympas.synth.render_suite``) or reuse one (``--suite``).
- Pseudo-label every scene (``pympas.label``, one frame in ``--stride``, CRM radius 20 px scaled
  to the width). Alternate labelled frames are split: frames 0, 2, 4, ... train, frames 1, 3,
  5, ... are the annotated test frames. Every score is the per-scene IoU (intersection and union
  summed over a scene's test frames) and the mIoU over scenes, against each ground truth (exact
  silhouettes and annotator-like regions).
- Table 1 (all scenes, as in the paper): CM+CRM (the pseudo-labels themselves on the test
  frames), MPASNet* (no siamese branch) and MPASNet, trained on the training frames of all six
  scenes.
- Table 2 (ablation, all scenes): MPASNet without L_AIR, without SFA, without both (= MPASNet*),
  with cross entropy instead of Dice, and two rows of the paper's equations taken literally:
  Eq. 6 divided by W'H', and L_AIR on raw features (Eq. 7 as printed; MPASNet itself uses
  L_AIR on standardised channels, see ``pympas.model.losses.air_loss``), L_SEG on every CRM
  pixel (``bg_ignore=0``, the paper's form; MPASNet labels the CRM pixels that show the
  stationary background as background, see ``pympas.background``), and L_SEG leaving those
  pixels out (``bg_label="ignore"``, pympas' default before 2026-12-07).
- Cross-scene: CM+CRM, MPASNet* and MPASNet (``--cross-variants`` adds ablations) trained on
  four scenes and tested on the two unseen ones (``--test-scenes``, fixed a priori: ring and
  plaza). ``--cross-extra-scenes N`` trains them on N more scenes too: the training scenarios
  (cycled) rendered with seeds no suite uses (``--seed`` + 1000 + j) and the camera 1, 1.25
  or 0.8 times as far, every labelled frame of them for training; 0 (default) is the four
  scenes alone. The test scenarios are never among them.
- Threshold 0.5 on the sigmoid, no post-processing, the last checkpoint of each run. Frames are
  segmented at the scales ``--scale`` with their logits averaged (default: 1 and the working
  scale of the CRM radius, 20 / radius, so 1 and 2 at 320x240 and 1 alone at 640x480;
  ``pympas.segmentation.working_scale``); where that is not scale 1 alone, Table 2 adds
  MPASNet's own runs segmented at scale 1 (the label sets' resolution).
- ``--seeds N`` trains every network N times (training seeds ``--seed`` .. ``--seed`` + N - 1,
  same suite and pseudo-labels): cells are means over the seeds, the mIoU column adds the
  standard deviation, and a difference between two rows is called within seed noise when it
  is smaller than twice its standard error.
- A diagnostic after each ground truth's tables, "beyond the motion prior": every all-scenes
  network scored only on the pixels outside each test frame's own pseudo-label, where CM+CRM
  scores 0 by construction (IoU per scene, mIoU, and the share of that crowd found). It shows
  what the network adds to its pseudo-labels (standing people, a crowd too slow for the
  particles); reported, not a target.
- A second diagnostic, "under a change of appearance": the same networks on the test frames
  turned grayscale, dimmed and colour-cast (``APPEARANCE``, within the range of the training
  augmentation), the invariance L_AIR asks of the encoder (``--no-appearance`` skips it: three
  more passes per network).

Writes OUT/tables.md (markdown next to the paper's figures), OUT/tables.json and
OUT/figures.html (Fig. 4 style: the middle test frame of each scene, its pseudo-label, every
network's mask from the first seed, all scenes setting, and the ground truth). Training runs
live in OUT/runs/<setting>/<variant>/seed<k>/. The suite, label sets and finished runs already in
OUT are reused when the script is run again with the same options, so an interrupted benchmark
resumes; one made with other options stops the script with a message naming its folder.

    python benchmarks/tables.py -o bench-tables                      # full size (GPU: W48)
    python benchmarks/tables.py -o bench-tables --frames 60 --size 320x240 --stride 4 \\
        --steps 50 --crop 128 --batch-size 4                          # smoke, CPU
    python benchmarks/tables.py -o bench-tables --frames 150 --size 320x240 --stride 5 \\
        --steps 600 --crop 192 --batch-size 4 --seeds 5 \\
        --variants "MPASNet,MPASNet*,w/o AIR,w/o SFA" \\
        --cross-variants "MPASNet*,MPASNet,w/o SFA"                   # the demo's budget, CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
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
from pympas.evaluation import PAPER_TABLE1_MIOU, Evaluation, evaluate
from pympas.experiment import (
    GROUND_TRUTHS,
    ExperimentSettings,
    fig4_strip,
    predict_frames,
    read_gt,
    train_config,
)
from pympas.files import write_text_atomic

#: Table 2 row of MPASNet's own runs segmented at scale 1 (no training of its own)
SCALE1 = "MPASNet, segmented at scale 1"
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
    "every CRM pixel crowd": {"bg_ignore": 0.0},
    "CRM floor ignored": {"bg_label": "ignore"},
}
TABLE2_FLAGS = {  # variant -> (AIR, SFA, L_SEG)
    "MPASNet": ("yes", "yes", "Dice"),
    "w/o AIR": ("-", "yes", "Dice"),
    "w/o SFA": ("yes", "-", "Dice"),
    "MPASNet*": ("-", "-", "Dice"),
    "CE instead of Dice": ("yes", "yes", "CE"),
    "literal Eq. 6 Dice": ("yes", "yes", "Dice / (W'H')"),
    "raw-feature AIR": ("raw Eq. 7", "yes", "Dice"),
    "every CRM pixel crowd": ("yes", "yes", "Dice, every CRM pixel crowd (paper)"),
    "CRM floor ignored": ("yes", "yes", "Dice, CRM pixels showing the background ignored"),
    SCALE1: ("yes", "yes", "Dice; MPASNet's runs segmented at the label sets' resolution"),
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
    p.add_argument("--seed", type=int, default=0, help="suite and first training seed (0)")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per network (1)")
    p.add_argument("--test-scenes", default="ring,plaza", help="cross-scene test scenes")
    p.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"subset of {', '.join(VARIANTS)}"
    )
    p.add_argument(
        "--scale", type=float, nargs="+", default=None, metavar="S",
        help="inference scales, logits averaged (default: 1 and 20 / CRM radius, the paper's "
        "working scale)",
    )  # fmt: skip
    p.add_argument(
        "--cross-variants", default=None,
        help=f"networks of the cross-scene setting (default: those of {', '.join(CROSS_VARIANTS)} "
        "in --variants)",
    )  # fmt: skip
    p.add_argument("--no-cross", action="store_true", help="skip the cross-scene setting")
    p.add_argument(
        "--cross-extra-scenes", type=int, default=0, metavar="N",
        help="the cross-scene networks also train on N more scenes of their training scenarios, "
        "rendered with seeds no suite uses and other camera heights (0, the default: the suite "
        "scenes alone)",
    )  # fmt: skip
    p.add_argument(
        "--no-appearance", action="store_true",
        help="skip the test frames under changes of appearance (3 more passes per network)",
    )  # fmt: skip
    return p.parse_args(argv)


def _suite(args: argparse.Namespace, out: Path) -> Path:
    """The suite the tables score: ``--suite``, or OUT/suite (rendered with ``--seed`` unless
    already there). SystemExit naming the folder when it was rendered with other frames or size,
    or (OUT/suite) another seed, than asked."""
    w, h = args.size
    suite = Path(args.suite) if args.suite else out / "suite"
    if args.suite:
        missing = [s for s in SCENES if not (suite / s / "gt").is_dir()]
        if missing:
            sys.exit(f"tables: {suite} lacks scene folders {missing}")
    elif not (suite / "suite.json").is_file():
        from pympas import synth

        print(f"rendering the suite: {args.frames} frames at {w}x{h}", flush=True)
        synth.render_suite(suite, seed=args.seed, frames=args.frames, size=(w, h), progress=True)
    asks = {"frames": args.frames, "width": w, "height": h}
    if not args.suite:  # a given suite may have any seed; ours was rendered with --seed
        asks = {"seed": args.seed} | asks
    hint = "pass --frames/--size to match it" if args.suite else "use another -o"
    _check_rendered(suite / "suite.json", asks, hint)
    return suite


def _rendered(path: Path) -> dict[str, Any]:
    """The settings a suite or scene was rendered with (its suite.json or scene.json), or
    SystemExit naming the file."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"tables: {path}: cannot read the rendered settings ({exc})") from exc
    if not isinstance(meta, dict):
        raise SystemExit(f"tables: {path}: not a suite or scene description")
    return meta


def _check_rendered(path: Path, asks: dict[str, Any], hint: str = "use another -o") -> None:
    """SystemExit naming the folder of ``path`` (suite.json or scene.json) when it records
    other values than ``asks`` (seed, frames, width, height)."""
    meta = _rendered(path)
    made = tuple(meta.get(k) for k in asks)
    if made != tuple(asks.values()):
        sys.exit(f"tables: {path.parent} was rendered with ({', '.join(asks)}) {made}, this run "
                 f"asks {tuple(asks.values())}; {hint}")  # fmt: skip


def _video(scene_dir: Path) -> Path:
    for name in ("video.mp4", "video.avi"):
        if (scene_dir / name).is_file():
            return scene_dir / name
    raise FileNotFoundError(f"{scene_dir}: no video.mp4 or video.avi")


def _pseudo_label(scene_dir: Path, stride: int, width: int) -> Any:
    """The LabelSet of a rendered scene's video: one frame in ``stride``, CRM radius 20 px
    scaled to ``width`` (20 at 640 px wide)."""
    import pympas

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pympas.label(_video(scene_dir), stride=stride, radius=_radius(width), progress=False)


def _radius(width: int) -> float:
    """The CRM radius in px at ``width``: the paper's 20 px at 640 px wide, scaled."""
    return 20.0 * width / 640


def _check_labels(label_dir: Path, video: Path, stride: int, size: tuple[int, int]) -> None:
    """SystemExit naming ``label_dir`` when the label set already there was not made from
    ``video`` (checked by content while the recorded video still exists: a copied OUT passes)
    with ``stride``, the CRM radius for ``size`` and that size (an OUT written otherwise)."""
    from pympas.labelset import LabelSetError, read_meta

    try:
        meta = read_meta(label_dir)
    except LabelSetError as exc:
        raise SystemExit(f"tables: {exc}; remove {label_dir} or use another -o") from exc
    made_from = Path(meta["source"])
    if made_from.is_file() and not filecmp.cmp(made_from, video, shallow=False):
        raise SystemExit(f"tables: {label_dir} was labelled from {made_from}, this run labels "
                         f"{video}; remove it or use another -o")  # fmt: skip
    params = meta["params"]
    made = {"stride": params.get("stride"), "radius": params.get("radius"),
            "width": meta["width"], "height": meta["height"]}  # fmt: skip
    asks = {"stride": stride, "radius": _radius(size[0]), "width": size[0], "height": size[1]}
    for key, value in asks.items():
        if not isinstance(made[key], int | float) or not math.isclose(made[key], value):
            raise SystemExit(f"tables: {label_dir} was labelled with {key}={made[key]!r}, this "
                             f"run asks {value!r}; remove it or use another -o")  # fmt: skip


def _labels(suite: Path, out: Path, stride: int, size: tuple[int, int]) -> dict[str, Any]:
    """Training label sets saved under OUT/labels/<scene>; returns scene -> held-out LabelSet.
    Label sets already there are reused when made as asked (:func:`_check_labels`)."""
    from pympas.labelset import LabelSet

    held: dict[str, Any] = {}
    for scene in SCENES:
        train_dir, held_dir = out / "labels" / scene, out / "heldout" / scene
        if train_dir.is_dir() and held_dir.is_dir():
            for made in (train_dir, held_dir):
                _check_labels(made, _video(suite / scene), stride, size)
            held[scene] = LabelSet.load(held_dir)
            continue
        print(f"pseudo-labels: {scene}", flush=True)
        train_part, held[scene] = _pseudo_label(suite / scene, stride, size[0]).split_alternate()
        train_part.save(train_dir, overwrite=True)
        held[scene].save(held_dir, overwrite=True)
    return held


#: settings a reused run may differ in: where and how it ran, not what it learned
_RUN_ONLY = ("out", "labelsets", "device", "amp", "progress", "num_workers", "resume",
             "save_every", "log_every", "ddp_timeout")  # fmt: skip


def _check_reused(run: Path, cfg: Any) -> None:
    """SystemExit naming the run and the setting when a finished run was trained otherwise than
    ``cfg`` asks (an OUT written by an older pympas or other options)."""
    from pympas.train import saved_config

    path = run / "config.json"
    try:
        saved = saved_config(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: cannot read the finished run's config ({exc})") from exc
    trained_on = [Path(x).name for x in saved.get("labelsets", [])]
    asks = [Path(x).name for x in cfg.labelsets]
    if trained_on != asks:
        raise SystemExit(
            f"{run}: this finished run was trained on the label sets {trained_on}, the benchmark "
            f"asks {asks}; remove it or use another -o"
        )
    for f in dataclasses.fields(cfg):
        if f.name not in _RUN_ONLY and saved.get(f.name) != getattr(cfg, f.name):
            raise SystemExit(
                f"{run}: this finished run was trained with {f.name}={saved.get(f.name)!r}, "
                f"the benchmark asks {getattr(cfg, f.name)!r}; remove it or use another -o"
            )


def _train(
    out: Path, setting: str, variant: str, scenes: list[str], s: ExperimentSettings, device: str
) -> tuple[Any, float]:
    from pympas.model.checkpoint import LAST, load_model
    from pympas.train import train

    run = out / "runs" / setting / variant.replace("/", "").replace(" ", "_").replace("*", "-star")
    run = run / f"seed{s.seed}"
    t0 = time.perf_counter()
    cfg = train_config([str(out / "labels" / sc) for sc in scenes], run, s, device,
                       **VARIANTS[variant])  # fmt: skip
    if (run / LAST).is_file():
        _check_reused(run, cfg)
        print(f"reusing the finished run {run}", flush=True)
    else:
        if run.exists():
            import shutil

            shutil.rmtree(run)
        print(f"training {setting}/{variant} on {len(scenes)} scenes ({s.steps} steps, "
              f"seed {s.seed})", flush=True)  # fmt: skip
        train(cfg)
    return load_model(run / LAST, device=device), time.perf_counter() - t0


#: extra training scene j: seed = suite seed + EXTRA_SEED + j, camera distance x EXTRA_DISTANCE
EXTRA_SEED = 1000
EXTRA_DISTANCE = (1.0, 1.25, 0.8)


def _extra_labels(out: Path, scenarios: list[str], n: int, args: argparse.Namespace) -> list[str]:
    """Names of ``n`` more training label sets under OUT/labels/: scene j renders
    ``scenarios[j % len(scenarios)]`` with seed ``--seed + EXTRA_SEED + j`` and the camera
    ``EXTRA_DISTANCE[j % 3]`` times as far (under OUT/extra/), and every labelled frame trains.
    Reused when already rendered with the same seed, frames and size and labelled as asked."""
    from pympas.synth import get_scenario, render_scene

    names = []
    w, h = args.size
    for j in range(n):
        scenario, d = scenarios[j % len(scenarios)], EXTRA_DISTANCE[j % len(EXTRA_DISTANCE)]
        name, seed = f"extra{j:02d}-{scenario}", args.seed + EXTRA_SEED + j
        scene_dir, label_dir = out / "extra" / name, out / "labels" / name
        names.append(name)
        if (scene_dir / "scene.json").is_file():
            asks = {"seed": seed, "frames": args.frames, "width": w, "height": h}
            _check_rendered(scene_dir / "scene.json", asks)
        else:
            print(f"extra training scene {j + 1}/{n}: {scenario}, seed {seed}, camera x{d}",
                  flush=True)  # fmt: skip
            sc = get_scenario(scenario)
            sc = dataclasses.replace(sc, zoom=sc.zoom / d)
            render_scene(sc, scene_dir, seed=seed, frames=args.frames, size=(w, h), overwrite=True)
        if label_dir.is_dir():
            _check_labels(label_dir, _video(scene_dir), args.stride, (w, h))
        else:
            _pseudo_label(scene_dir, args.stride, w).save(label_dir, overwrite=True)
    return names


def _ground_truths(held: dict[str, Any], suite: Path) -> dict[str, dict[str, dict]]:
    """Ground truth -> scene -> test frame index -> (H, W) bool mask, read once."""
    return {kind: {sc: read_gt(suite / sc, labels.frame_indices, kind)
                   for sc, labels in held.items()} for kind in GROUND_TRUTHS}  # fmt: skip


def _score(held: dict[str, Any], gt: dict, scenes: list[str], pred: dict | None) -> Evaluation:
    """Per-scene IoU of ``pred`` (scene -> frame -> mask; None: the test frames' own
    pseudo-labels, CM+CRM) against ``gt`` (scene -> frame -> mask) on ``scenes``."""
    if pred is None:  # CM+CRM: the pseudo-labels of the test frames
        pred = {sc: held[sc].masks_by_frame() for sc in scenes}
    return evaluate(pred, {sc: gt[sc] for sc in scenes})


def _beyond_prior(held: dict[str, Any], gt: dict, scenes: list[str], pred: dict) -> Evaluation:
    """The network's masks scored only where the motion prior is silent: on each test frame, the
    pixels outside the frame's own pseudo-label P, ``IoU = sum |N & G & ~P| / sum |(N | G) & ~P|``
    per scene (N the network's mask, G the ground truth); ``intersection / gt_pixels`` is the
    share of the crowd that the pseudo-labels miss and the network finds."""
    gt_out, outside = {}, {}
    for sc in scenes:
        prior = held[sc].masks_by_frame()
        gt_out[sc] = {f: g & ~prior[f] for f, g in gt[sc].items()}
        outside[sc] = {f: pred[sc][f] & ~prior[f] for f in gt[sc]}
    return evaluate(outside, gt_out)


def _grayscale(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> its luma (ITU-R BT.601 weights) in all three channels."""
    y = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(np.clip(np.rint(y), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def _dusk(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB, contrast 0.7 about the frame's mean colour, then brightness 0.6."""
    x = frame.astype(np.float32)
    mean = x.mean(axis=(0, 1), keepdims=True)
    return np.clip(np.rint(0.6 * (mean + 0.7 * (x - mean))), 0, 255).astype(np.uint8)


def _colour_cast(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB, red x 1.25 and blue x 0.75 (a warm light), clipped."""
    x = frame.astype(np.float32) * np.array([1.25, 1.0, 0.75], np.float32)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# Changes of appearance of the test frames (fixed before any score under them), each within
# the range the training augmentation covers (ColorJitter factors in [0.6, 1.4], grayscale).
APPEARANCE = {"grayscale": _grayscale, "dusk": _dusk, "colour cast": _colour_cast}


def _changed(held: dict[str, Any], scenes: list[str], change: Any) -> dict[str, Any]:
    """The held-out LabelSets of ``scenes`` with every frame passed through ``change``."""
    out = {}
    for sc in scenes:
        frames = np.stack([change(f) for f in held[sc].frames])
        out[sc] = dataclasses.replace(held[sc], frames=frames)
    return out


def _middle(labels: Any) -> tuple[int, int]:
    """(position, frame index) of the middle frame of a LabelSet, the one figures.html shows."""
    i = len(labels) // 2
    return i, int(labels.frame_indices[i])


def _figures(
    held: dict[str, Any], suite: Path, shown: dict[str, dict[str, np.ndarray]], seed: int, h: int
) -> str:
    """figures.html: one Fig. 4-style strip per scene with every network's mask."""
    from pympas.report import html_page

    parts = [
        '<p class="note">Middle held-out test frame of each scene; networks trained on all '
        f"scenes' pseudo-labels, training seed {seed}; threshold 0.5.</p>"
    ]
    for sc, labels in held.items():
        i, idx = _middle(labels)
        preds = [(v, masks[sc]) for v, masks in shown.items() if sc in masks]
        gts = [(f"ground truth: {cap}", read_gt(suite / sc, [idx], kind)[idx])
               for kind, (_, cap) in GROUND_TRUTHS.items()]  # fmt: skip
        parts += [f"<h3>{sc}, frame {idx}</h3>", fig4_strip(labels, i, preds, gts, min(160, h))]
    return html_page("MPASNet tables: masks on the synthetic suite", "\n".join(parts))


def _fmt(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


@dataclasses.dataclass
class Row:
    """One method's scores, one Evaluation per training seed (one for CM+CRM)."""

    runs: list[Evaluation]

    def iou(self, scene: str) -> float:
        return float(np.mean([ev[scene].iou for ev in self.runs]))

    @property
    def miou(self) -> float:
        return float(np.mean([ev.miou for ev in self.runs]))

    @property
    def sd(self) -> float:
        """Standard deviation of the mIoU over the seeds (NaN with one seed)."""
        return (
            float(np.std([ev.miou for ev in self.runs], ddof=1)) if len(self.runs) > 1 else math.nan
        )

    @property
    def coverage(self) -> float:
        """Predicted crowd pixels over ground-truth crowd pixels, mean over the seeds: about
        1/coverage of the ground truth flags a network that marks everything as crowd, 0 one
        that marks nothing."""
        ratios = [
            sum(s.pred_pixels for s in ev.scenes) / max(1, sum(s.gt_pixels for s in ev.scenes))
            for ev in self.runs
        ]
        return float(np.mean(ratios))

    def cell(self) -> str:
        return _fmt(self.miou) + ("" if math.isnan(self.sd) else f" ± {self.sd:.4f}")

    def to_dict(self) -> dict[str, Any]:
        return {"miou_mean": self.miou, "miou_sd": None if math.isnan(self.sd) else self.sd,
                "seeds": [ev.to_dict() for ev in self.runs]}  # fmt: skip


def compare(a: Row, b: Row) -> tuple[float, str]:
    """(mIoU of a minus mIoU of b, a word on it): "within seed noise" when the difference is
    under twice its standard error over the seeds (rows without a spread count as exact)."""
    return _difference([ev.miou for ev in a.runs], [ev.miou for ev in b.runs])


def _difference(a: list[float], b: list[float]) -> tuple[float, str]:
    """(mean of a minus mean of b, a word on it), a and b one figure per seed: "within seed
    noise" when the difference is under twice its standard error (one figure counts as exact)."""
    d = float(np.mean(a) - np.mean(b))
    var = sum(float(np.var(x, ddof=1)) / len(x) for x in (a, b) if len(x) > 1)
    if var > 0 and abs(d) < 2.0 * math.sqrt(var):
        return d, "within seed noise"
    return d, ""


def _table(title: str, rows: dict[str, Row], scenes: list[str], paper: bool) -> list[str]:
    head = ["method", *scenes, "mIoU", "pred/gt px"] + (["paper mIoU"] if paper else [])
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        row = [name, *(_fmt(r.iou(sc)) for sc in scenes), f"**{r.cell()}**", f"{r.coverage:.2f}"]
        if paper:
            row.append(_fmt(PAPER_TABLE1_MIOU.get(name)))
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _recall(r: Row) -> float:
    """Share of the ground-truth crowd pixels found, mean over scenes and seeds (scenes without
    ground-truth crowd left out)."""
    per_run = [[s.intersection / s.gt_pixels for s in ev.scenes if s.gt_pixels] for ev in r.runs]
    return float(np.mean([np.mean(x) for x in per_run if x])) if any(per_run) else math.nan


def _diagnostic_head(title: str, caption: str, head: list[str]) -> list[str]:
    """Title, caption and column header of a diagnostic table (reported, not a target)."""
    return [f"### {title}", "", f"{caption} A diagnostic, not a target.", "",
            "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]  # fmt: skip


def _vs(d: float, word: str) -> str:
    """A "vs MPASNet" cell: the signed difference and, if any, its word on seed noise."""
    return f"{d:+.4f}" + (f" ({word})" if word else "")


def _beyond_table(rows: dict[str, Row], scenes: list[str]) -> list[str]:
    """Where the motion prior is silent: each network scored outside the test frames' own
    pseudo-labels (:func:`_beyond_prior`). Reported, not judged."""
    if not rows:
        return []
    lines = _diagnostic_head(
        "Beyond the motion prior (all scenes): the crowd the pseudo-labels miss",
        "Each network scored only on the pixels outside the test frame's own pseudo-label "
        "(CM+CRM scores 0 there by construction): IoU per scene, its mean, and the share of "
        "the ground-truth crowd outside the pseudo-labels that the network marks (recall). "
        "Standing people and the parts of a crowd that move too little for the particles "
        "are found here only by appearance.",
        ["method", *scenes, "mIoU", "recall", "vs MPASNet"],
    )
    for name, r in rows.items():
        vs = "—"
        if "MPASNet" in rows and name != "MPASNet":
            vs = _vs(*compare(r, rows["MPASNet"]))
        cells = [name, *(_fmt(r.iou(sc)) for sc in scenes), r.cell(), f"{_recall(r):.3f}", vs]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _appearance_table(rows: dict[str, dict[str, Row]]) -> list[str]:
    """Each all-scenes network on the test frames as rendered and under each change of
    :data:`APPEARANCE`; ``rows``: variant -> {"as rendered" or change name -> Row}. The mean
    under change is taken per seed, over the changes. Reported, not judged."""
    if not rows:
        return []
    lines = _diagnostic_head(
        "Under a change of appearance (all scenes)",
        "The same networks on the test frames turned grayscale, dimmed (contrast 0.7, then "
        "brightness 0.6) and given a warm colour cast (red x 1.25, blue x 0.75), each within "
        "the range of the training augmentation; the pseudo-labels are not recomputed. L_AIR "
        "asks the encoder for exactly this invariance.",
        ["method", "as rendered", *APPEARANCE, "mean under change", "vs MPASNet"],
    )

    def under_change(by: dict[str, Row]) -> list[float]:
        per_change = [[ev.miou for ev in by[name].runs] for name in APPEARANCE]
        return [float(x) for x in np.mean(per_change, axis=0)]

    for name, by in rows.items():
        mean = under_change(by)
        cell = _fmt(float(np.mean(mean))) + (
            f" ± {np.std(mean, ddof=1):.4f}" if len(mean) > 1 else ""
        )
        vs = "—"
        if "MPASNet" in rows and name != "MPASNet":
            vs = _vs(*_difference(mean, under_change(rows["MPASNet"])))
        cells = [name, *(by[c].cell() for c in ["as rendered", *APPEARANCE]), cell, vs]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _effect(d: float, noise: str) -> str:
    """What removing a component did: ``d`` the mIoU difference to MPASNet, ``noise`` non-empty
    when it is within seed noise."""
    if noise or d == 0:
        return "no difference beyond noise"
    return "costs accuracy" if d < 0 else "raises accuracy beyond noise"


def _targets(t1: dict[str, Row], t2: dict[str, Row], cross: dict[str, Row]) -> list[str]:
    out = []

    def note(a: Row, b: Row) -> tuple[float, str]:
        d, word = compare(a, b)
        return d, f" ({word})" if word else ""

    if {"CM+CRM", "MPASNet"} <= set(t1):
        gain, w = note(t1["MPASNet"], t1["CM+CRM"])
        ok = "met" if gain >= 0.10 else "MISSED"
        out.append(
            f"- MPASNet - CM+CRM = {gain:+.4f} mIoU{w} (target >= +0.10; paper +0.1498): {ok}"
        )
    if {"CM+CRM", "MPASNet", "MPASNet*"} <= set(t1):
        lo, mid, hi = t1["CM+CRM"].miou, t1["MPASNet*"].miou, t1["MPASNet"].miou
        ok = "met" if lo <= mid <= hi else "MISSED"
        out.append(f"- CM+CRM <= MPASNet* <= MPASNet ({lo:.4f}, {mid:.4f}, {hi:.4f}): {ok}")
    if "MPASNet" in t2:
        for name, r in t2.items():
            if name == SCALE1:  # the same networks segmented otherwise: no component removed
                d, w = note(r, t2["MPASNet"])
                out.append(f"- {name}: {d:+.4f} mIoU vs MPASNet{w} (the working scale's share; "
                           "not an ablation)")  # fmt: skip
            elif name != "MPASNet":
                d, w = note(r, t2["MPASNet"])
                ok = "costs accuracy" if d < 0 and not w else f"MISSED ({_effect(d, w)})"
                out.append(f"- {name}: {d:+.4f} mIoU vs MPASNet{w}: {ok}")
    if {"CM+CRM", "MPASNet"} <= set(cross):
        d, w = note(cross["MPASNet"], cross["CM+CRM"])
        ok = "met" if d > 0 and not w else "MISSED"
        out.append(f"- cross-scene, MPASNet - CM+CRM = {d:+.4f} mIoU{w} (target > 0): {ok}")
    if "MPASNet" in cross:
        for name, r in cross.items():
            if name not in ("CM+CRM", "MPASNet"):
                d, w = note(r, cross["MPASNet"])
                out.append(f"- cross-scene, {name}: {d:+.4f} mIoU vs MPASNet{w}: {_effect(d, w)}")
    return out


def _sections(
    all_scores: dict[str, Row],
    cross_scores: dict[str, Row],
    scenes: list[str],
    test: list[str],
    extra: int = 0,
) -> list[str]:
    """Tables 1 and 2, the cross-scene table and the targets, for one ground truth."""
    t1 = {k: all_scores[k] for k in ("CM+CRM", "MPASNet*", "MPASNet") if k in all_scores}
    t2 = {k: all_scores[k] for k in TABLE2_FLAGS if k in all_scores}
    md = [
        *_table("Table 1: all scenes", t1, scenes, paper=True),
        "### Table 2: ablation (all scenes)",
        "",
        "| AIR | SFA | L_SEG | variant | mIoU | vs MPASNet | pred/gt px |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in t2.items():
        air, sfa, loss = TABLE2_FLAGS[name]
        vs = "—"
        if "MPASNet" in t2 and name != "MPASNet":
            vs = _vs(*compare(r, t2["MPASNet"]))
        md.append(
            "| " + " | ".join([air, sfa, loss, name, r.cell(), vs, f"{r.coverage:.2f}"]) + " |"
        )
    md.append("")
    if cross_scores:
        trained_on = f"{len(scenes) - len(test)} scenes"
        if extra:
            trained_on += f" and {extra} more of their scenarios (other seeds and camera heights)"
        md += _table(f"Cross-scene: trained on {trained_on}, tested on {', '.join(test)}",
                     cross_scores, test, paper=False)  # fmt: skip
    return [*md, "### Targets", "", *_targets(t1, t2, cross_scores), ""]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from pympas.device import resolve_device

    device = resolve_device(args.device)
    arch = args.arch or ("w48" if device.startswith("cuda") else "w18-small")
    w, h = args.size
    s = ExperimentSettings(SCENES, args.frames, w, h, args.stride, arch, args.steps,
                           args.batch_size, args.crop, seed=args.seed,
                           scale=None if args.scale is None else tuple(args.scale))  # fmt: skip
    try:
        scales = s.inference_scales
    except (TypeError, ValueError) as exc:
        sys.exit(f"tables: --{exc}")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.cross_variants is None:
        cross_variants = [v for v in CROSS_VARIANTS if v in variants]
    else:
        cross_variants = [v.strip() for v in args.cross_variants.split(",") if v.strip()]
    unknown = [v for v in variants + cross_variants if v not in VARIANTS]
    test_scenes = [t.strip() for t in args.test_scenes.split(",") if t.strip()]
    if unknown or any(t not in SCENES for t in test_scenes):
        sys.exit(f"tables: unknown variants {unknown} or test scenes {test_scenes}")
    if args.seeds < 1:
        sys.exit(f"tables: --seeds must be at least 1, got {args.seeds}")
    if args.cross_extra_scenes < 0:
        sys.exit(f"tables: --cross-extra-scenes must be 0 or more, got {args.cross_extra_scenes}")
    seeds = [args.seed + k for k in range(args.seeds)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    suite = _suite(args, out)
    held = _labels(suite, out, args.stride, args.size)
    gts = _ground_truths(held, suite)
    # change of appearance -> the held-out LabelSets under it, made once
    changed = {} if args.no_appearance else {
        name: _changed(held, list(held), change) for name, change in APPEARANCE.items()
    }  # fmt: skip
    scenes = list(SCENES)
    timings: dict[str, float] = {}

    shown: dict[str, dict[str, np.ndarray]] = {}  # variant -> scene -> middle test frame's mask

    unscaled: dict[str, list[Evaluation]] = {kind: [] for kind in GROUND_TRUTHS}
    # ground truth -> variant -> one Evaluation per seed, outside the pseudo-labels (all scenes)
    beyond: dict[str, dict[str, list[Evaluation]]] = {kind: {} for kind in GROUND_TRUTHS}
    # ground truth -> variant -> change of appearance -> one Evaluation per seed (all scenes)
    appearance: dict[str, dict[str, dict[str, list[Evaluation]]]] = {k: {} for k in GROUND_TRUTHS}

    def trained(setting: str, v: str, train_scenes: list[str], test: list[str]) -> dict[str, Row]:
        """One Row per ground truth: the network trained with every seed, scored on ``test``."""
        runs: dict[str, list[Evaluation]] = {kind: [] for kind in GROUND_TRUTHS}
        for seed in seeds:
            model, timings[f"{setting}/{v}/seed{seed}"] = _train(
                out, setting, v, train_scenes, dataclasses.replace(s, seed=seed), device
            )

            def predict(
                at: Any, net: Any = model, sets: dict[str, Any] = held
            ) -> dict[str, dict[int, np.ndarray]]:
                return {sc: predict_frames(net, sets[sc], device, args.batch_size, at)
                        for sc in test}  # fmt: skip

            pred = predict(scales)
            for kind in GROUND_TRUTHS:
                runs[kind].append(_score(held, gts[kind], test, pred))
                if setting == "all":
                    ev = _beyond_prior(held, gts[kind], test, pred)
                    beyond[kind].setdefault(v, []).append(ev)
            if setting == "all" and not args.no_appearance:
                for name, sets in changed.items():
                    pred_c = predict(scales, sets=sets)
                    for kind in GROUND_TRUTHS:
                        ev = _score(held, gts[kind], test, pred_c)
                        appearance[kind].setdefault(v, {}).setdefault(name, []).append(ev)
            if setting == "all" and v == "MPASNet" and scales != (1.0,):
                pred1 = predict(1.0)
                for kind in GROUND_TRUTHS:
                    unscaled[kind].append(_score(held, gts[kind], test, pred1))
            if setting == "all" and seed == seeds[0]:
                shown[v] = {sc: pred[sc][_middle(held[sc])[1]] for sc in test}
            got = ", ".join(f"{k} {r[-1].miou:.4f}" for k, r in runs.items())
            print(f"{setting}, {v}, seed {seed}: mIoU {got}", flush=True)
        return {kind: Row(r) for kind, r in runs.items()}

    def pseudo_labels(test: list[str]) -> dict[str, Row]:
        return {kind: Row([_score(held, gts[kind], test, None)]) for kind in GROUND_TRUTHS}

    # ground truth -> method -> Row
    all_scores: dict[str, dict[str, Row]] = {k: {} for k in GROUND_TRUTHS}
    cross_scores: dict[str, dict[str, Row]] = {k: {} for k in GROUND_TRUTHS}
    for kind, row in pseudo_labels(scenes).items():
        all_scores[kind]["CM+CRM"] = row
    for v in variants:
        for kind, row in trained("all", v, scenes, scenes).items():
            all_scores[kind][v] = row
    for kind, evs in unscaled.items():
        if evs:
            all_scores[kind][SCALE1] = Row(evs)
    if not args.no_cross:
        train_scenes = [sc for sc in scenes if sc not in test_scenes]
        n_extra = args.cross_extra_scenes
        extra = _extra_labels(out, train_scenes, n_extra, args)
        cross = f"cross+{n_extra}" if n_extra else "cross"  # its own runs folder
        for kind, row in pseudo_labels(test_scenes).items():
            cross_scores[kind]["CM+CRM"] = row
        for v in cross_variants:
            for kind, row in trained(cross, v, train_scenes + extra, test_scenes).items():
                cross_scores[kind][v] = row

    frames_test = sum(len(held[sc]) for sc in scenes)
    config = dataclasses.asdict(s) | {"suite_seed": _rendered(suite / "suite.json").get("seed"),
                                      "device": device, "inference_scales": scales,
                                      "test_scenes": test_scenes,
                                      "cross_extra_scenes": args.cross_extra_scenes,
                                      "test_frames": frames_test, "seeds": seeds}  # fmt: skip
    machine = f"{platform.node()}, {platform.processor() or platform.machine()}, "
    machine += f"{os.cpu_count()} CPU cores" + (f", {device}" if device != "cpu" else "")
    spread = (f"Networks: mean over {len(seeds)} training seeds; mIoU ± its standard deviation."
              if len(seeds) > 1 else "Networks: one training seed.")  # fmt: skip
    md = [
        "# MPASNet tables on the synthetic suite",
        "",
        f"pympas {__version__}; {machine}; total {time.perf_counter() - t_start:.0f} s.",
        f"Config: {json.dumps(config)}",
        "",
        "Paper figures (Table 1, real footage): CM+CRM 0.4949, MPASNet 0.6447 mIoU. IoU is summed",
        "over each scene's held-out labelled frames (never used for training). pred/gt px: crowd",
        "pixels predicted over ground-truth crowd pixels (about 1/coverage = everything marked",
        f"crowd, 0 = nothing marked). {spread} Every table is given for both ground truths:",
        "the exact person silhouettes and annotator-like crowd regions (silhouettes closed at",
        "0.3 of each person's height, hole-filled; the paper's ground truth is labelme regions).",
        "",
    ]
    for kind, (_, caption) in GROUND_TRUTHS.items():
        md += [f"## Ground truth: {caption}", ""]
        md += _sections(all_scores[kind], cross_scores[kind], scenes, test_scenes,
                        args.cross_extra_scenes)  # fmt: skip
        md += _beyond_table({v: Row(evs) for v, evs in beyond[kind].items()}, scenes)
        md += _appearance_table({
            v: {"as rendered": all_scores[kind][v], **{c: Row(evs) for c, evs in by.items()}}
            for v, by in appearance[kind].items()
        })  # fmt: skip
    text = "\n".join(md)
    write_text_atomic(out / "tables.md", text + "\n")
    doc = {
        "pympas_version": __version__,
        "machine": machine,
        "config": config,
        "paper_table1_miou": PAPER_TABLE1_MIOU,
        "all_scenes": {g: {k: v.to_dict() for k, v in by.items()} for g, by in all_scores.items()},
        "beyond_prior": {
            g: {k: Row(evs).to_dict() for k, evs in by.items()} for g, by in beyond.items()
        },
        "appearance": {
            g: {v: {c: Row(evs).to_dict() for c, evs in by.items()} for v, by in per.items()}
            for g, per in appearance.items()
        },
        "cross_scene": {
            g: {k: v.to_dict() for k, v in by.items()} for g, by in cross_scores.items()
        },
        "train_seconds": timings,
        "total_seconds": time.perf_counter() - t_start,
    }
    write_text_atomic(out / "tables.json", json.dumps(doc, indent=2) + "\n")
    write_text_atomic(out / "figures.html", _figures(held, suite, shown, seeds[0], h))
    print(text)
    print(f"wrote {out / 'tables.md'}, {out / 'tables.json'} and {out / 'figures.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
