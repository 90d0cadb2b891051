"""``pympas train`` (alias ``pympas-train``): train MPASNet on label sets from ``pympas label``.

    pympas train LABELSET_DIR... -o RUN_DIR [--arch w48|w32|w18|w18-small] [--steps N]
                 [--batch-size B] [--crop S] [--pretrained PATH [--pretrained-partial]]
                 [--resume [CKPT]]
                 [--device DEV] [--amp [auto|bf16|fp32]|--no-amp] [--init kaiming|normal|torch]
                 [--bg-ignore TAU]
                 [--no-air] [--air-mode standardized|raw]
                 [--no-sfa] [--loss dice|dice-literal|ce] [--no-siamese]
                 [--ddp-timeout SECONDS]

Defaults come from :class:`pympas.config.TrainConfig`; torch is imported only when training
starts, so building the parser stays light.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pympas._version import __version__
from pympas.background import BG_LABELS
from pympas.config import AIR_MODES, AMP_CHOICES, ARCHS, INIT_SCHEMES, LOSSES, TrainConfig
from pympas.device import DEVICE_HELP

DESCRIPTION = "Train MPASNet on pseudo-labelled label sets (written by `pympas label`)."


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The options of ``pympas train`` / ``pympas-train`` (on ``parser`` if given)."""
    d = TrainConfig()
    p = parser or argparse.ArgumentParser(prog="pympas-train", description=DESCRIPTION)
    p.add_argument("labelsets", nargs="*", metavar="LABELSET_DIR", help="label set directories")
    p.add_argument("-o", "--out", required=True, metavar="RUN_DIR", help="run directory")
    p.add_argument("--arch", choices=ARCHS, help="HRNet (default: w48 on CUDA, w18-small on CPU)")
    p.add_argument("--steps", type=int, default=d.steps, help=f"SGD steps (default {d.steps})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per process")
    p.add_argument("--crop", type=int, default=d.crop, help=f"crop size (default {d.crop})")
    p.add_argument("--pretrained", metavar="PATH", help="ImageNet HRNet weights (local file)")
    p.add_argument(
        "--pretrained-partial", action="store_true",
        help="load --pretrained although encoder keys are missing or unexpected (else an error)",
    )  # fmt: skip
    p.add_argument(
        "--resume", nargs="?", const="last", metavar="CKPT",
        help="continue from CKPT (default RUN_DIR/checkpoint_last.pt)",
    )  # fmt: skip
    p.add_argument("--device", default=d.device, help=DEVICE_HELP)
    p.add_argument(
        "--amp", nargs="?", const="bf16", choices=AMP_CHOICES, default=d.amp,
        help="bf16 autocast + channels_last: auto (default: where the device computes bf16 "
        "natively), bf16 (also plain --amp) or fp32",
    )  # fmt: skip
    p.add_argument("--no-amp", dest="amp", action="store_const", const="fp32", help="= --amp fp32")
    p.add_argument(
        "--init", choices=INIT_SCHEMES, default=d.init,
        help=f"initialisation from scratch (default {d.init}: the official HRNet's)",
    )  # fmt: skip
    p.add_argument(
        "--bg-ignore", type=float, default=d.bg_ignore, metavar="TAU",
        help=f"CRM pixels within colour distance TAU of the stationary background are relabelled "
        f"as --bg-label says (default {d.bg_ignore:g}; 0: the paper's form, every CRM pixel is "
        "crowd)",
    )  # fmt: skip
    p.add_argument(
        "--bg-label", choices=BG_LABELS, default=d.bg_label,
        help=f"what L_SEG is told of those pixels: background, or ignore (left out of the loss) "
        f"(default {d.bg_label})",
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
    p.add_argument(
        "--ddp-timeout", type=float, default=d.ddp_timeout, metavar="SECONDS",
        help="DDP (torchrun): seconds a process waits for the others, at the start and in every "
        "collective, before the run fails instead of hanging on a dead or stuck process "
        f"(default {d.ddp_timeout:g})",
    )  # fmt: skip
    p.add_argument("--version", action="version", version=f"pympas {__version__}")
    return p


def run(args: argparse.Namespace) -> int:
    """Train as the parsed options say; 2 with a message naming the problem on bad input."""
    from pympas.model.checkpoint import LAST
    from pympas.train import train

    fields = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    cfg = TrainConfig(**fields)
    if not cfg.labelsets and cfg.resume is None:
        print("pympas-train: error: at least one LABELSET_DIR is needed (or --resume)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        out = train(cfg)
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        print(f"pympas-train: error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run directory: {out} (last checkpoint: {os.path.join(out, LAST)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pympas-train``: the same as ``pympas train``."""
    from pympas.cli._common import run_command

    return run_command("train", run, build_parser().parse_args(argv))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train MPASNet on label sets", description=DESCRIPTION)
    build_parser(p)
    p.set_defaults(func=run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
