"""``pympas demo``: the whole method on a generated scene, ending in an HTML report
(:func:`pympas.demo.run_demo`)."""

from __future__ import annotations

import argparse
import dataclasses

from pympas.cli._common import default, fail
from pympas.demo import run_demo, settings_for
from pympas.device import DEVICE_HELP, resolve_device


def run(args: argparse.Namespace) -> int:
    try:
        dev = resolve_device(args.device)
        settings = settings_for(args.quick, dev)
        overrides = {k: getattr(args, k) for k in ("steps", "seed") if getattr(args, k) is not None}
        settings = dataclasses.replace(settings, **overrides)
        run_demo(args.output, settings, device=dev)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        return fail("demo", exc)
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
    p.add_argument("--device", default=default(run_demo, "device"), help=DEVICE_HELP)
    p.add_argument("--steps", type=int, help="training steps (overrides the preset)")
    p.add_argument("--seed", type=int, help="seed of the scene and the training (default 0)")
    p.set_defaults(func=run)
