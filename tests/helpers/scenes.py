"""Small synthetic videos for the labelling tests: textured blobs moving over a textured static
background (fixed camera), built in memory in a fraction of a second."""

from __future__ import annotations

import numpy as np

HEIGHT, WIDTH = 120, 160
BLOB = (28, 36)  # blob height, width
# blob start (x, y) and velocity (pixels per frame)
BLOBS = (((8, 14), (2, 0)), ((116, 78), (-2, 0)))


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    import cv2

    noise = rng.uniform(0, 255, (h, w)).astype(np.float32)
    tex = cv2.GaussianBlur(noise, (0, 0), 1.2)
    tex = (tex - tex.min()) / (tex.max() - tex.min() + 1e-6)
    return tex * 255


def blob_boxes(t: int) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of every blob at frame t (x1, y1 exclusive)."""
    return [
        (x + vx * t, y + vy * t, x + vx * t + BLOB[1], y + vy * t + BLOB[0])
        for (x, y), (vx, vy) in BLOBS
    ]


def moving_blobs(
    frames: int = 40, colour: bool = True, motion: bool = True, seed: int = 0
) -> np.ndarray:
    """(T, H, W, 3) RGB (or (T, H, W) gray) uint8 video of two textured blobs crossing a textured
    background; with ``motion=False`` the blobs stand still."""
    rng = np.random.default_rng(seed)
    background = _texture(rng, HEIGHT, WIDTH)
    blobs = [_texture(rng, *BLOB) * 0.8 + 40 for _ in BLOBS]
    video = np.empty((frames, HEIGHT, WIDTH), dtype=np.uint8)
    for t in range(frames):
        img = background.copy()
        for tex, (x0, y0, x1, y1) in zip(blobs, blob_boxes(t if motion else 0), strict=True):
            img[y0:y1, x0:x1] = tex
        video[t] = np.clip(img, 0, 255).astype(np.uint8)
    if not colour:
        return video
    tint = np.array([1.0, 0.85, 0.7])
    return np.clip(video[..., None] * tint, 0, 255).astype(np.uint8)


def videos_one_corrupt(folder):
    """``walk_a.avi``, ``walk_b.avi`` and ``broken.avi`` (its second half cut off), 25 frames
    each, in ``folder`` (created); returns ``folder``."""
    folder.mkdir()
    write_video(folder / "walk_a.avi", moving_blobs(25, seed=1))
    write_video(folder / "walk_b.avi", moving_blobs(25, seed=2))
    write_video(folder / "broken.avi", moving_blobs(25, seed=3))
    data = (folder / "broken.avi").read_bytes()
    (folder / "broken.avi").write_bytes(data[: len(data) // 2])
    return folder


def write_video(path, video: np.ndarray, fps: int = 25) -> None:
    """Write an RGB (T, H, W, 3) video as MJPG AVI."""
    import cv2

    h, w = video.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for frame in video:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
