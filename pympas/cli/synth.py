"""``pympas synth``: render a synthetic crowd scene, or the standard six-scene suite.

pympas synth SCENARIO -o OUT [--seed S] [--frames F] [--size WxH] [--density D]
pympas synth suite OUT [--seed S] [--frames F] [--size WxH]
"""

from __future__ import annotations

import argparse
import time

from pympas.cli._common import default, fail
from pympas.synth.scenarios import SCENARIOS
from pympas.synth.scene import render_scene


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, got {text!r}") from None
    if w < 32 or h < 32:
        raise argparse.ArgumentTypeError(f"size must be at least 32x32 pixels, got {text!r}")
    return w, h


def _int_at_least(minimum: int):
    """argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise argparse.ArgumentTypeError(f"must be {what}, got {v}")
        return v

    return parse


def _fail(msg: str) -> int:
    return fail("synth", msg, 2)


def run(args: argparse.Namespace) -> int:
    from pympas.synth.scene import render_suite

    if args.out and args.out_pos and args.out != args.out_pos:
        return _fail(f"two different outputs given: {args.out_pos!r} and -o {args.out!r}")
    out = args.out or args.out_pos
    if not out:
        return _fail("an output directory is required (-o OUT)")
    t0 = time.perf_counter()
    try:
        if args.scenario == "suite":
            if args.density is not None:
                return _fail("--density applies to single scenes, not to the suite")
            infos = render_suite(out, seed=args.seed, frames=args.frames, size=args.size,
                                 overwrite=args.overwrite, progress=True)  # fmt: skip
        else:
            infos = [
                render_scene(
                    args.scenario, out, seed=args.seed, frames=args.frames, size=args.size,
                    density=1.0 if args.density is None else args.density,
                    distractors=not args.no_distractors, overwrite=args.overwrite,
                )
            ]  # fmt: skip
    except (ValueError, TypeError, FileExistsError, ImportError) as exc:
        return _fail(str(exc))
    for s in infos:
        print(f"{s.scenario}: {s.frames} frames {s.size[0]}x{s.size[1]}, {s.people} people, "
              f"mean crowd coverage {s.mean_coverage:.1%} -> {s.path}")  # fmt: skip
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="render synthetic crowd video with exact ground-truth masks (JuPedSim)",
        description="Render a synthetic crowd scene (video, gt/NNNNNN.png masks, "
        "trajectories.csv, scene.json), or with 'suite' the standard six scenes.",
    )
    p.add_argument("scenario", choices=[*SCENARIOS, "suite"], metavar="SCENARIO",
                   help=f"one of {', '.join(SCENARIOS)}, or 'suite' for all six")  # fmt: skip
    p.add_argument("out_pos", nargs="?", metavar="OUT", help="output directory (or use -o)")
    p.add_argument("-o", "--out", help="output directory (must not exist unless --overwrite)")
    seed, frames = default(render_scene, "seed"), default(render_scene, "frames")
    w, h = default(render_scene, "size")
    p.add_argument("--seed", type=_int_at_least(0), default=seed, help=f"random seed ({seed})")
    p.add_argument(
        "--frames", type=_int_at_least(1), default=frames, help=f"frames per scene ({frames})"
    )
    p.add_argument("--size", type=_size, default=(w, h), help=f"WxH (default {w}x{h})")
    p.add_argument("--density", type=float, default=None,
                   help="head-count factor, single scenes only (default 1.0)")  # fmt: skip
    p.add_argument("--no-distractors", action="store_true", help="no passing cars")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)
