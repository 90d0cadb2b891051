"""The stationary background of a fixed camera, and the CRM pixels that show it.

MPASNet's pseudo-masks are discs (CRM): around each walker they also cover the floor, which the
network then learns as crowd. The method's own premise, a fixed camera, gives a second motion
prior that says which of those pixels are floor: the per-pixel temporal median of frames spread
over the video is the stationary background, and a disc pixel whose colour lies within ``tau``
of it shows the background, not a moving person. Training labels such pixels background
(``bg_label="background"``, the default) or leaves them out of L_SEG (``"ignore"``: neither
crowd nor background for the loss); every other pixel keeps its CRM label. With ``tau = 0``
nothing changes: the paper's form, every CRM pixel is crowd.

:func:`stationary_background` estimates the background; :func:`ignore_background` relabels the
CRM pixels that show it (:data:`IGNORE` by default, or 0).

>>> import numpy as np
>>> frames = [np.full((2, 3, 3), v, np.uint8) for v in (10, 10, 200, 12, 10)]
>>> stationary_background(frames)[0, 0].tolist()
[10, 10, 10]
>>> mask = np.array([[1, 1, 0], [0, 0, 0]], np.uint8)
>>> frame = np.full((2, 3, 3), 10, np.uint8); frame[0, 0] = 90
>>> ignore_background(frame, mask, stationary_background(frames), tau=20.0).tolist()
[[1, 255, 0], [0, 0, 0]]
>>> ignore_background(frame, mask, stationary_background(frames), 20.0, value=0).tolist()
[[1, 0, 0], [0, 0, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "BG_IGNORE",
    "BG_LABEL",
    "BG_LABELS",
    "IGNORE",
    "MIN_FRAMES",
    "bg_value",
    "frame_picks",
    "ignore_background",
    "stationary_background",
]

#: label value of a pixel the segmentation loss ignores (the usual ignore index of segmentation)
IGNORE = 255
#: default colour distance (RGB, 0..255 per channel): chosen on validation scenes (seeds 100 and
#: 101, never the test seeds); 0 is the paper's form
BG_IGNORE = 20.0
#: what L_SEG is told of a CRM pixel that shows the stationary background: "background" (label 0)
#: or "ignore" (label :data:`IGNORE`, left out of the loss)
BG_LABELS = ("background", "ignore")
#: default: chosen on validation demos (seeds 100-102, never the test seeds); see the CHANGELOG
BG_LABEL = "background"
#: fewer frames than this give no usable median (a person who stands in half of them is in it)
MIN_FRAMES = 5
#: at most this many frames, evenly spaced, enter the median (memory, time)
MAX_FRAMES = 64


def bg_value(bg_label: str) -> int:
    """The label value of ``bg_label`` (one of :data:`BG_LABELS`): 0 or :data:`IGNORE`.

    >>> bg_value("background"), bg_value("ignore")
    (0, 255)
    """
    if bg_label not in BG_LABELS:
        raise ValueError(f"bg_label must be one of {list(BG_LABELS)}, got {bg_label!r}")
    return 0 if bg_label == "background" else IGNORE


def frame_picks(n: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Indices of at most ``max_frames`` evenly spaced frames of ``n``, first and last included:
    the frames :func:`stationary_background` uses (so a caller decodes only those)."""
    return np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int))


def stationary_background(frames: Sequence[np.ndarray], max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Per-pixel temporal median of frames of a fixed camera: its stationary background.

    Args:
        frames: N frames (H, W, 3) uint8 of one camera, N >= :data:`MIN_FRAMES`, ideally spread
            over the video (the labelled frames of a label set are).
        max_frames: at most this many evenly spaced frames are used.

    Returns:
        (H, W, 3) uint8 background.

    Raises:
        ValueError: fewer than :data:`MIN_FRAMES` frames, or frames of different shapes.
    """
    n = len(frames)
    if n < MIN_FRAMES:
        raise ValueError(f"frames: a background needs at least {MIN_FRAMES} frames, got {n}")
    picks = frame_picks(n, max_frames)
    shapes = {frames[i].shape for i in picks}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise ValueError(f"frames: need (H, W, 3) frames of one size, got shapes {sorted(shapes)}")
    stack = np.stack([frames[i] for i in picks])
    return np.median(stack, axis=0).round().astype(np.uint8)  # background = temporal median


def ignore_background(
    frame: np.ndarray,
    mask: np.ndarray,
    background: np.ndarray,
    tau: float = BG_IGNORE,
    value: int = IGNORE,
) -> np.ndarray:
    """Relabel the CRM pixels that show the stationary background: :data:`IGNORE` (left out of
    L_SEG) or, with ``value=0``, background.

    Args:
        frame: (H, W, 3) uint8, in the channel order of ``background``.
        mask: (H, W) CRM pseudo-mask, nonzero = crowd.
        background: (H, W, 3) uint8 from :func:`stationary_background`.
        tau: a crowd pixel whose colour is within this Euclidean distance of the background
            is relabelled; 0 relabels nothing (the paper's form).
        value: their label, :data:`IGNORE` or 0.

    Returns:
        (H, W) uint8 label: 0 background, 1 crowd, ``value`` where a CRM pixel shows the
        background.
    """
    if frame.shape != background.shape or frame.shape[:2] != mask.shape:
        raise ValueError(
            f"frame {frame.shape}, mask {mask.shape} and background {background.shape} differ"
        )
    if tau < 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    if value not in (0, IGNORE):
        raise ValueError(f"value must be 0 or {IGNORE}, got {value}")
    label = (mask != 0).astype(np.uint8)
    if tau > 0:
        diff = frame.astype(np.float32) - background.astype(np.float32)
        still = np.einsum("hwc,hwc->hw", diff, diff) <= tau * tau  # |I - B| <= tau
        label[(label == 1) & still] = value
    return label
