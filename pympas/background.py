"""The stationary background of a fixed camera, and the CRM pixels that show it.

MPASNet's pseudo-masks are discs (CRM): around each walker they also cover the floor, which the
network then learns as crowd. The method's own premise, a fixed camera, gives a second motion
prior that says which of those pixels are floor: the per-pixel temporal median of frames spread
over the video is the stationary background, and a disc pixel whose colour lies within ``tau``
of it shows the background, not a moving person. Training ignores such pixels in L_SEG (they are
neither crowd nor background for the loss); every other pixel keeps its CRM label. With
``tau = 0`` nothing is ignored: the paper's form, every CRM pixel is crowd.

:func:`stationary_background` estimates the background; :func:`ignore_background` marks the
CRM pixels that show it with :data:`IGNORE`.

>>> import numpy as np
>>> frames = [np.full((2, 3, 3), v, np.uint8) for v in (10, 10, 200, 12, 10)]
>>> stationary_background(frames)[0, 0].tolist()
[10, 10, 10]
>>> mask = np.array([[1, 1, 0], [0, 0, 0]], np.uint8)
>>> frame = np.full((2, 3, 3), 10, np.uint8); frame[0, 0] = 90
>>> ignore_background(frame, mask, stationary_background(frames), tau=20.0).tolist()
[[1, 255, 0], [0, 0, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "BG_IGNORE",
    "IGNORE",
    "MIN_FRAMES",
    "frame_picks",
    "ignore_background",
    "stationary_background",
]

#: label value of a pixel the segmentation loss ignores (the usual ignore index of segmentation)
IGNORE = 255
#: default colour distance (RGB, 0..255 per channel): chosen on validation scenes (seeds 100 and
#: 101, never the test seeds); 0 is the paper's form
BG_IGNORE = 20.0
#: fewer frames than this give no usable median (a person who stands in half of them is in it)
MIN_FRAMES = 5
#: at most this many frames, evenly spaced, enter the median (memory, time)
MAX_FRAMES = 64


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
    frame: np.ndarray, mask: np.ndarray, background: np.ndarray, tau: float = BG_IGNORE
) -> np.ndarray:
    """Mark the CRM pixels that show the stationary background as :data:`IGNORE`.

    Args:
        frame: (H, W, 3) uint8, in the channel order of ``background``.
        mask: (H, W) CRM pseudo-mask, nonzero = crowd.
        background: (H, W, 3) uint8 from :func:`stationary_background`.
        tau: a crowd pixel whose colour is within this Euclidean distance of the background
            is ignored; 0 ignores nothing (the paper's form).

    Returns:
        (H, W) uint8 label: 0 background, 1 crowd, :data:`IGNORE` crowd pixel showing background.
    """
    if frame.shape != background.shape or frame.shape[:2] != mask.shape:
        raise ValueError(
            f"frame {frame.shape}, mask {mask.shape} and background {background.shape} differ"
        )
    if tau < 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    label = (mask != 0).astype(np.uint8)
    if tau > 0:
        diff = frame.astype(np.float32) - background.astype(np.float32)
        still = np.einsum("hwc,hwc->hw", diff, diff) <= tau * tau  # |I - B| <= tau
        label[(label == 1) & still] = IGNORE
    return label
