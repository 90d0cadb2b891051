"""``pympas evaluate PRED GT``: IoU per scene and mIoU (:func:`pympas.evaluate`)."""

from __future__ import annotations

import argparse

from pympas.cli._common import default, fail
from pympas.evaluation import evaluate


def run(args: argparse.Namespace) -> int:
    try:
        result = evaluate(
            args.pred, args.gt, label=args.label, strict=args.strict, empty=args.empty
        )
    except (ValueError, TypeError) as exc:
        return fail("evaluate", exc)
    print(result.table())
    if args.json:
        result.write_json(args.json)
        print(f"wrote {args.json}")
    if args.csv:
        result.write_csv(args.csv)
        print(f"wrote {args.csv}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="IoU per scene and mIoU of predicted crowd masks against ground truth",
        description="IoU of the crowd class per scene (intersection and union summed over the "
        "annotated frames) and mIoU over scenes, as in the paper's Table 1.",
    )
    p.add_argument(
        "pred", metavar="PRED_DIR", help="predicted masks (folder, or scene sub-folders)"
    )
    p.add_argument(
        "gt",
        metavar="GT_DIR",
        help="ground truth: PNG masks or labelme JSON (or scene sub-folders)",
    )
    p.add_argument("--json", metavar="OUT", help="also write the scores as JSON")
    p.add_argument("--csv", metavar="OUT", help="also write the scores as CSV")
    lab = default(evaluate, "label")
    p.add_argument("--label", default=lab, help=f"labelme shape label of crowd (default {lab})")
    p.add_argument(
        "--strict", action="store_true", help="a predicted frame without ground truth is an error"
    )
    p.add_argument(
        "--empty",
        choices=("one", "exclude"),
        default=default(evaluate, "empty"),
        help="IoU of a scene with no crowd in prediction and ground truth: 1.0 (one) or left "
        "out of the mIoU (exclude); default one",
    )
    p.set_defaults(func=run)
