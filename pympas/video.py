"""Frame sources for the labelling pipeline: any video OpenCV reads, a folder of images, a NumPy
array or an iterable of frames, read one frame at a time so memory stays bounded; and live
sources: a stream URL (``rtsp://``, ``http://``, anything OpenCV's FFmpeg backend opens) or a
camera index.

Any source can be bounded (``open_video(video, max_frames=N, duration=S)``): reading stops after
N frames, or S seconds (wall clock) after the first frame arrived. A live source has no known
length; it ends at its bound, or when the stream ends or its connection is lost, which is no
error: :attr:`VideoSource.ended` then says so, and what was received is complete. A stream that
cannot be opened is a VideoError naming it (credentials in a URL are never shown).

Frames a consumer does not need can be skipped cheaply (:meth:`VideoSource.frames` with
``skip``): a video file only grabs them (decoded, not converted to BGR), other sources still read
and check them; either way they are counted.

Every problem with a source raises :class:`VideoError` (a ``ValueError``) whose message names the
source: a missing path, a file that is not a video, a truncated or corrupt video, a damaged image
in an image folder (a truncated JPEG that the decoder would pad with grey, see
:func:`pympas.files.read_image`), fewer than two frames, frames of changing size, a folder with no
images.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "VideoError",
    "VideoNotFoundError",
    "VideoSource",
    "is_stream",
    "natural_key",
    "open_video",
    "stream_name",
]

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
)
VIDEO_EXTENSIONS = frozenset(
    {
        ".avi",
        ".mp4",
        ".mov",
        ".mkv",
        ".mpg",
        ".mpeg",
        ".m4v",
        ".wmv",
        ".webm",
        ".flv",
        ".ogv",
        ".3gp",
        ".ts",
        ".mts",
        ".m2ts",
        ".asf",
        ".mjpeg",
    }
)


#: a predicate on frame indices: True for a frame the consumer does not need
Skip = Callable[[int], bool]
#: how long OpenCV's FFmpeg backend waits to open a stream and for each frame of it (ms)
STREAM_TIMEOUT_MS = 10_000
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_stream(video: Any) -> bool:
    """True for a live source: a URL (``scheme://...``) or a camera index (an int, or a string of
    digits that is no existing path)."""
    if isinstance(video, (bool, np.bool_)):
        return False
    if isinstance(video, (int, np.integer)):
        return True
    if isinstance(video, str):
        return bool(_URL.match(video)) or (video.isdigit() and not Path(video).exists())
    return False


def stream_name(video: Any) -> str:
    """A live source as shown in messages and recorded in outputs: ``camera N``, or the URL with
    any password replaced by ``***``."""
    if not isinstance(video, str) or not _URL.match(video):
        return f"camera {int(video)}"
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", video)


class VideoError(ValueError):
    """A video source that cannot be labelled; the message names the source."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The path of a video source does not exist."""


def natural_key(name: str) -> list[Any]:
    """Sort key putting ``frame2.png`` before ``frame10.png`` (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _as_uint8(frame: Any, where: str) -> np.ndarray:
    """One frame as uint8 (H, W) or (H, W, 3); floats in [0, 1] are scaled by 255."""
    arr = np.asarray(frame)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise VideoError(f"{where}: frames must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]  # drop alpha
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise VideoError(f"{where}: a frame must have shape (H, W) or (H, W, 3), got {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise VideoError(f"{where}: empty frame of shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)  # OpenCV needs contiguous rows
    if np.issubdtype(arr.dtype, np.bool_):
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise VideoError(f"{where}: frame contains NaN or Inf")
        if arr.min() < 0 or arr.max() > 255:
            raise VideoError(f"{where}: float frames must lie in [0, 1] or [0, 255]")
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        return np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise VideoError(f"{where}: frames must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype == np.uint16 and arr.max() > 255:
        return (arr // 257).astype(np.uint8)  # 16-bit images: keep the top byte
    if arr.min() < 0 or arr.max() > 255:
        raise VideoError(f"{where}: integer frames must lie in [0, 255], got dtype {arr.dtype}")
    return arr.astype(np.uint8)


class VideoSource:
    """A stream of frames with a name for messages, opened by :func:`open_video`.

    Iterating yields uint8 frames, (H, W) grayscale or (H, W, 3) colour in :attr:`channel_order`
    ("bgr" for files and image folders as OpenCV reads them, "rgb" for arrays and iterables).
    Iteration checks that every frame has the size of the first and that there are at least two
    frames, and it detects videos that end before the frame count in their header.
    :meth:`frames` iterates with a cheap path for frames the consumer does not need.

    Attributes:
        name: the source as shown in messages (a path, "array"/"iterable", a URL without its
            password, "camera N").
        channel_order: "bgr" or "rgb", the order of colour frames.
        length: the number of frames if known up front (None for iterables and live sources).
        live: a stream URL or a camera: no known length, and its end is no error.
        max_frames, duration: the bounds (None: none); see :func:`open_video`.
        ended: after iteration, why it ended early, for a message: the bound reached, or a live
            stream that ended or lost its connection; None for a source read to its end.
        count: frames read so far.
    """

    def __init__(
        self,
        name: str,
        frames: Iterable[Any] | Callable[[Skip | None], Iterator[Any]],
        channel_order: str,
        length: int | None,
        files: list[Path] | None = None,
        live: bool = False,
    ) -> None:
        self.name = name
        self.files = files  # the image files of a folder source, for messages
        self.channel_order = channel_order
        self.length = length
        self.live = live
        self.max_frames: int | None = None
        self.duration: float | None = None
        self.ended: str | None = None
        self.count = 0
        # ``frames`` is an iterable of frames, or a reader: a function of a skip predicate (or
        # None) returning an iterator of frames with None for each frame it skipped without
        # producing pixels (video files). Frames of an iterable are all read and checked.
        if isinstance(frames, Iterable):
            self._read: Callable[[Skip | None], Iterator[Any]] = lambda skip: iter(frames)
        else:
            self._read = frames
        self.shape: tuple[int, int] | None = None  # (H, W), known after the first frame

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames()  # type: ignore[return-value]

    def frames(self, skip: Skip | None = None) -> Iterator[np.ndarray | None]:
        """The frames in order, with None in place of every frame ``i`` for which ``skip(i)``.

        A skipped frame of a video file is only grabbed (decoded, never converted to BGR nor
        copied out); frames of other sources are read and checked as usual, then dropped. The
        checks on the whole stream (at least two frames, not truncated) count skipped frames.
        """
        reader = self._read(skip)
        try:
            yield from self._checked(reader, skip)
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()  # a bound stops reading early: release the capture now

    def bounded(self, max_frames: int | None, duration: float | None) -> VideoSource:
        """Set the bounds (see :func:`open_video`); returns the source."""
        import pympas._validate as _validate

        self.max_frames, self.duration = _validate.frame_bounds(max_frames, duration)
        return self

    def _checked(self, reader: Iterator[Any], skip: Skip | None) -> Iterator[np.ndarray | None]:
        count, start = 0, None
        self.ended = None
        for count, raw in enumerate(reader, start=1):
            self.count = count
            if start is None:
                start = time.monotonic()
            if raw is None:  # the reader skipped it (video file: grabbed, same size by format)
                yield None
                if self._bound_reached(count, start):
                    break
                continue
            named = str(self.files[count - 1]) if self.files is not None else self.name
            frame = _as_uint8(raw, f"{named} (frame {count - 1})")
            if self.shape is None:
                self.shape = (frame.shape[0], frame.shape[1])
            elif frame.shape[:2] != self.shape:
                h, w = frame.shape[:2]
                raise VideoError(
                    f"{named}: frame {count - 1} has size {w}x{h}, but the video started "
                    f"with {self.shape[1]}x{self.shape[0]} (frames of changing size)"
                )
            yield None if skip is not None and skip(count - 1) else frame
            if self._bound_reached(count, start):
                break
        else:
            if self.live and count:
                self.ended = (
                    f"{self.name}: the stream ended after {count} frames (closed by the source, "
                    "or the connection was lost)"
                )
        if count < 2:
            what = "no frames" if count == 0 else "only one frame"
            raise VideoError(f"{self.name}: has {what}; at least 2 frames are needed for motion")

    def _bound_reached(self, count: int, start: float | None) -> bool:
        if self.max_frames is not None and count >= self.max_frames:
            self.ended = f"{self.name}: stopped after {count} frames (max_frames)"
            return True
        if self.duration is not None and start is not None:
            if time.monotonic() - start >= self.duration:
                self.ended = f"{self.name}: stopped after {self.duration:g} s ({count} frames)"
                return True
        return False

    def to_gray(self, frame: np.ndarray) -> np.ndarray:
        """(H, W) uint8 luminance of a frame from this source."""
        import cv2

        if frame.ndim == 2:
            return frame
        code = cv2.COLOR_BGR2GRAY if self.channel_order == "bgr" else cv2.COLOR_RGB2GRAY
        return cv2.cvtColor(frame, code)

    def to_rgb(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB copy of a frame from this source (grayscale is replicated)."""
        import cv2

        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        if self.channel_order == "bgr":
            return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(frame).copy()


def _read_capture(path: Path, skip: Skip | None = None) -> Iterator[np.ndarray | None]:
    """The frames of a video file; a frame ``i`` with ``skip(i)`` is grabbed only (None)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: not a video OpenCV can read (cannot open it)")
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        counter = [0]
        yield from _capture_frames(cap, skip, counter)
        read = counter[0]
        if read == 0 and declared > 0:
            raise VideoError(
                f"{path}: corrupt video, no frame could be decoded ({declared} declared)"
            )
        # Containers whose count is estimated from the duration may be off by a frame or two.
        if declared > 0 and read < declared - max(2, declared // 100):
            raise VideoError(
                f"{path}: truncated or corrupt video, decoded {read} of the {declared} frames "
                "declared in its header"
            )
    finally:
        cap.release()


def _capture_frames(cap: Any, skip: Skip | None, counter: list[int]) -> Iterator[np.ndarray | None]:
    """The frames of an opened ``cv2.VideoCapture`` until it ends or fails; a frame ``i`` with
    ``skip(i)`` is grabbed only (None, never decoded into an image). ``counter[0]`` counts the
    frames read."""
    while True:
        if skip is not None and skip(counter[0]):
            if not cap.grab():
                return
            frame = None
        else:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
        counter[0] += 1
        yield frame


def _read_stream(video: Any, name: str, skip: Skip | None = None) -> Iterator[np.ndarray | None]:
    """The frames of a live source (URL or camera index) until it ends or its connection is
    lost; a frame ``i`` with ``skip(i)`` is grabbed only (None)."""
    import cv2

    if isinstance(video, str) and _URL.match(video):
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]  # fmt: skip
        cap = cv2.VideoCapture(video, cv2.CAP_FFMPEG, timeouts)
    else:
        cap = cv2.VideoCapture(int(video))
    try:
        if not cap.isOpened():
            raise VideoError(f"{name}: cannot open the stream (OpenCV's FFmpeg backend or camera)")
        yield from _capture_frames(cap, skip, [0])
    finally:
        cap.release()


def _capture_length(path: Path) -> int | None:
    """The frame count in the header (None if unknown); raises if OpenCV cannot open the file."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: not a video OpenCV can read (cannot open it)")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    return n if n > 0 else None


def image_files(folder: Path) -> list[Path]:
    """The image files of a folder in natural order (``2.png`` before ``10.png``)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: natural_key(p.name))


def _read_images(files: list[Path]) -> Iterator[np.ndarray]:
    from pympas.files import read_image

    for f in files:
        try:
            img = read_image(f)  # damage the decoder reports (a truncated JPEG) is an error
        except (OSError, ValueError) as exc:
            raise VideoError(str(exc)) from exc  # ImageError and OSError name the file
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, :3]
        yield img


def open_video(
    video: Any, *, max_frames: int | None = None, duration: float | None = None
) -> VideoSource:
    """Open any supported frame source without reading it.

    Args:
        video: a path (str or os.PathLike) to a file OpenCV reads or to a folder of images
            (natural sort order); a NumPy array (T, H, W) or (T, H, W, 3) (colour taken as RGB);
            an iterable of (H, W) / (H, W, 3) frames (colour taken as RGB); a stream URL
            (``rtsp://``, ``http://``, any URL OpenCV's FFmpeg backend opens) or a camera index
            (an int, or a string of digits). Frames are uint8, or floats in [0, 1] (or
            [0, 255]).
        max_frames: stop after this many frames (None: no bound).
        duration: stop this many seconds (wall clock) after the first frame (None: no bound).

    Returns:
        A :class:`VideoSource` streaming the frames.

    Raises:
        VideoNotFoundError: the path does not exist.
        VideoError: a folder with no images, an array of the wrong shape, or (when iterated)
            a file that is not a video, a truncated video, a stream that cannot be opened,
            < 2 frames, frames of changing size.
        TypeError: ``video`` is none of the supported kinds.
        ValueError: a bound that is not positive (names it).
    """
    source = _open(video)
    if max_frames is None and duration is None:
        return source  # an open source keeps the bounds it has
    return source.bounded(max_frames, duration)


def _open(video: Any) -> VideoSource:
    if isinstance(video, VideoSource):
        return video
    if is_stream(video):
        name = stream_name(video)
        return VideoSource(
            name, lambda skip: _read_stream(video, name, skip), "bgr", None, live=True
        )
    if isinstance(video, (str, os.PathLike)):
        path = Path(video)
        if not path.exists():
            raise VideoNotFoundError(f"{path}: no such file or folder")
        if path.is_dir():
            files = image_files(path)
            if not files:
                raise VideoError(
                    f"{path}: folder has no images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
                )
            return VideoSource(str(path), _read_images(files), "bgr", len(files), files)
        length = _capture_length(path)
        return VideoSource(str(path), lambda skip: _read_capture(path, skip), "bgr", length)
    if isinstance(video, np.ndarray):
        if not (video.ndim == 3 or (video.ndim == 4 and video.shape[3] in (1, 3, 4))):
            raise VideoError(
                f"video array must have shape (T, H, W) or (T, H, W, 3), got {video.shape}"
            )
        return VideoSource("array", iter(video), "rgb", int(video.shape[0]))
    if isinstance(video, (bytes, bytearray)) or not isinstance(video, Iterable):
        raise TypeError(
            "video must be a path, a folder of images, a numpy array (T, H, W[, 3]), an "
            f"iterable of frames, a stream URL or a camera index, got {type(video).__name__}"
        )
    length = len(video) if hasattr(video, "__len__") else None  # type: ignore[arg-type]
    return VideoSource("iterable", video, "rgb", length)
