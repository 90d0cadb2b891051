"""``pympas export CHECKPOINT -o model.onnx``: the inference path of a checkpoint as ONNX
(:func:`pympas.export.export_onnx`), for ``pympas segment model.onnx VIDEO`` (ONNX Runtime) or
any other ONNX runtime. The file appears only when complete and checked."""

from __future__ import annotations

import argparse

from pympas.cli._common import default, fail
from pympas.export import export_onnx


def run(args: argparse.Namespace) -> int:
    try:
        out = export_onnx(args.checkpoint, args.output, opset=args.opset)
    except (ValueError, TypeError, ImportError, FileNotFoundError) as exc:
        return fail("export", exc)
    print(f"{args.checkpoint} -> {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a checkpoint's inference path to ONNX (for ONNX Runtime)",
        description="Write the inference path of a training checkpoint (encoder, psi, head; "
        "ImageNet normalisation inside; dynamic batch, height and width) as an ONNX model with "
        "the pympas version and the training config in its metadata. Needs the onnx extra: "
        'pip install "pympas[onnx]".',
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a *.pt checkpoint from pympas train")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="file to write")
    opset = default(export_onnx, "opset")
    p.add_argument("--opset", type=int, default=opset, help=f"ONNX opset (default {opset})")
    p.set_defaults(func=run)
