"""Draw docs/images/gt_regions.png: one synthetic frame, its exact person silhouettes (``gt/``)
and its annotator-like crowd regions (``gt_regions/``) side by side.

Run from the repository root (needs ``pympas[synth]``)::

    python docs/make_gt_regions_figure.py            # writes docs/images/gt_regions.png
    python docs/make_gt_regions_figure.py --scenario corridor --frame 60 -o /tmp/x.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from pympas.synth import prepare
from pympas.synth.annotation import RADIUS_FACTOR


def _panel(img: np.ndarray, title: str, width: int, bits: int = 8) -> np.ndarray:
    h, w = img.shape[:2]
    out = cv2.resize(img, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    out &= 0xFF << (8 - bits) & 0xFF  # fewer bits per channel: a smaller PNG
    bar = np.full((22, width, 3), 255, np.uint8)
    cv2.putText(bar, title, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, out])


def figure(scenario: str, frame: int, size: tuple[int, int], seed: int, width: int) -> np.ndarray:
    """The three panels (frame, silhouettes, regions with the silhouettes inside) as one image."""
    scene = prepare(scenario, seed=seed, frames=frame + 1, size=size)
    for fr in scene:
        if fr.index == frame:
            break
    sil = fr.mask
    reg = fr.regions
    masks = np.zeros((*sil.shape, 3), np.uint8)
    masks[sil] = 255
    regions = np.zeros_like(masks)
    regions[reg] = (80, 160, 240)  # BGR: orange regions, silhouettes white on top
    regions[sil] = 255
    over = fr.image.copy()
    contours, _ = cv2.findContours(reg.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(over, contours, -1, (0, 170, 255), 1, cv2.LINE_AA)
    gap = np.full((22 + round(size[1] * width / size[0]), 4, 3), 255, np.uint8)
    return np.hstack(
        [
            _panel(over, f"{scenario} frame {frame} (region outlines)", width, bits=5),
            gap,
            _panel(masks, f"gt/: silhouettes ({sil.mean():.1%})", width),
            gap,
            _panel(regions, f"gt_regions/: r = {RADIUS_FACTOR} h ({reg.mean():.1%})", width),
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="crossing")
    ap.add_argument("--frame", type=int, default=90)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    ap.add_argument("--width", type=int, default=320, help="width of each panel in pixels")
    default = Path(__file__).resolve().parent / "images" / "gt_regions.png"
    ap.add_argument("-o", "--out", type=Path, default=default)
    args = ap.parse_args()
    img = figure(args.scenario, args.frame, tuple(args.size), args.seed, args.width)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
