"""Writing results so that nothing is ever half-written, and reading masks back.

One home for the file mechanics every writer shares (label sets, mask folders, reports, scores,
checkpoints):

- :class:`AtomicFolder`: a folder built under a temporary name beside its target and renamed
  into place only when complete; temporaries of killed writers on this host are removed by the
  next writer of the same target.
- :func:`write_atomic` / :func:`write_text_atomic`: a file written beside its target, then
  renamed over it.
- :func:`write_png` / :func:`read_mask`: PNG frames and masks (bool masks as 0/255). PNGs are
  encoded in memory and written with Python's file I/O, so a full disk raises OSError naming
  the file instead of leaving a short file behind.
- :class:`VideoFileWriter`: a video file whose frames are counted back when it is closed (a
  video encoder cannot report a full disk reliably).
- :func:`read_image`: an image decoded completely or an :class:`ImageError` naming the file
  (a truncated JPEG, which libjpeg would pad with grey and only warn about, is an error).
- :func:`output_folder`: an output folder created (umask respected) and cleaned of the
  temporaries that killed writers left in it; :func:`check_writable`: a probe file written
  and removed there before any work starts.
- :func:`output_names`: one distinct output folder name per input path.

Every error of a failed write is an OSError whose message names the file. Temporaries are named
``.NAME.tmp-HOST-PID-*`` so that the temporaries of a writer that was killed can be recognised
(its PID no longer runs on this host) and removed by the next writer. Files and folders are
created with the permissions the umask allows (not 0600/0700 as ``tempfile`` would leave them).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import glob
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "AtomicFolder",
    "ImageError",
    "LineLog",
    "VideoFileWriter",
    "append_text",
    "check_writable",
    "output_folder",
    "output_names",
    "read_image",
    "read_mask",
    "write_atomic",
    "write_png",
    "write_text_atomic",
]


def write_error(path: str | os.PathLike, exc: OSError) -> OSError:
    """An OSError of the type and errno of ``exc`` whose message names ``path``."""
    if str(path) in str(exc):
        return exc
    message = f"{path}: could not be written ({exc.strerror or exc})"
    return type(exc)(exc.errno, message) if exc.errno is not None else type(exc)(message)


def _umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other portable way to read it
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it over ``path``.

    The parent folder is created if needed. On any error the temporary file is removed and
    ``path`` is left as it was; an error that comes from a failed write (also one that a
    library wraps in another exception) is an OSError naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            _remove(tmp)
        cause = _os_error_in(exc)
        if cause is not None:
            raise write_error(path, cause) from exc
        raise
    return path


def _os_error_in(exc: BaseException | None) -> OSError | None:
    """``exc`` if it is an OSError, else the first OSError it was raised from or while handling
    (``torch.save`` turns a full disk into a RuntimeError raised while closing the file)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_atomic`)."""
    data = text.encode("utf-8")
    return write_atomic(path, lambda fh: fh.write(data))


def append_text(path: str | os.PathLike, text: str) -> None:
    """Append UTF-8 ``text`` to ``path`` (created if needed); OSError naming the file."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise write_error(path, exc) from exc


class LineLog:
    """A text file that grows one line at a time (a training log): each line is flushed as it
    is written, and a failed write (full disk) is an OSError naming the file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            self._fh: IO[str] | None = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise write_error(self.path, exc) from exc

    def write(self, line: str) -> None:
        """Append ``line`` and a newline, flushed."""
        assert self._fh is not None, "write after close"
        try:
            self._fh.write(line + "\n")
            self._fh.flush()
        except OSError as exc:
            raise write_error(self.path, exc) from exc

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fh.close()
            except OSError as exc:
                raise write_error(self.path, exc) from exc


def _remove(path: str | os.PathLike) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def encode_png(image: np.ndarray, compression: int | None = None) -> bytes:
    """PNG bytes of an (H, W) bool mask (as 0/255), an (H, W) uint8 image or an (H, W, 3) uint8
    RGB image; ``compression`` 0-9 (None: OpenCV's default)."""
    import cv2

    img = np.asarray(image)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    params = [] if compression is None else [cv2.IMWRITE_PNG_COMPRESSION, int(compression)]
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise ValueError(f"cannot encode an image of shape {img.shape} as PNG")
    return buf.tobytes()


def write_png(path: str | os.PathLike, image: np.ndarray, compression: int | None = None) -> None:
    """Write ``image`` (see :func:`encode_png`) as a PNG file; OSError naming the file if it
    cannot be written completely (full disk, no permission)."""
    data = encode_png(image, compression)
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        with contextlib.suppress(OSError):
            _remove(path)
        raise write_error(path, exc) from exc


# --------------------------------------------------------------------------------------------
# reading images


class ImageError(ValueError):
    """An image file that cannot be decoded completely; the message names the file."""


#: What libjpeg and libpng say (on stderr) when they decode a damaged file but still return an
#: image: a truncated JPEG comes back with its missing rows filled with grey.
DAMAGE_MESSAGES = (
    "Premature end of JPEG file",
    "Corrupt JPEG data",
    "Inconsistent progression sequence",
    "Not enough image data",
    "incorrect data check",
    "Read Error",
)

_capture_lock = threading.Lock()
_capture: dict[int, IO[bytes]] = {}  # pid -> this process's capture file (not shared by forks)


def _close_capture() -> None:
    for fh in _capture.values():
        fh.close()
    _capture.clear()


atexit.register(_close_capture)


@contextlib.contextmanager
def _decoder_messages() -> Iterator[list[str]]:
    """Collect what native code writes to file descriptor 2 inside the block (the decoders
    report damage only there); the list gets the text when the block ends."""
    out: list[str] = []
    with _capture_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no stderr to capture
            yield out
            return
        pid = os.getpid()
        if pid not in _capture:
            _close_capture()
            _capture[pid] = tempfile.TemporaryFile()  # kept for the process
        tmp = _capture[pid]
        tmp.seek(0)
        tmp.truncate()
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


def _decode(path: Path, flags: int | None) -> tuple[np.ndarray | None, str]:
    """(image, "") or (None, why it cannot be used)."""
    import cv2

    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if not data:
        return None, "empty file (0 bytes)"
    with _decoder_messages() as said:
        img = cv2.imdecode(
            np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED if flags is None else flags
        )
    lines = [line.strip() for line in "".join(said).splitlines() if line.strip()]
    damage = [line for line in lines if any(m in line for m in DAMAGE_MESSAGES)]
    if damage:
        return None, "damaged (truncated or corrupt data): " + "; ".join(damage)
    if img is None:
        return None, "corrupt, truncated or not an image" + "".join(f"; {x}" for x in lines)
    if lines:
        print("\n".join(lines), file=sys.stderr)
    return img, ""


def read_image(path: str | os.PathLike, flags: int | None = None) -> np.ndarray:
    """Decode the image file ``path`` with OpenCV (``flags``: ``cv2.IMREAD_*``, default
    ``IMREAD_UNCHANGED``) and return it as OpenCV does (BGR order).

    The file is read completely and decoded from memory; anything the decoder reports as
    damage (:data:`DAMAGE_MESSAGES`: a truncated JPEG, corrupt compressed data) is an error,
    not an image with made-up rows. Other decoder output is passed on to stderr. The check
    costs a few system calls per image.

    Raises:
        ImageError: (a ValueError) naming ``path``: missing, empty, not an image, or damaged.
    """
    img, why = _decode(Path(path), flags)
    if img is None:
        raise ImageError(f"{path}: cannot read this image ({why})")
    return img


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask image as (H, W) bool.

    The rule: a pixel is crowd iff it is not black (some colour or gray channel > 0) and, when
    the file has an alpha channel, not fully transparent (alpha > 0). So 0/255 masks (as
    pympas writes them), 0/1 masks, colour masks on black, 16-bit masks and RGBA masks with an
    opaque or a transparent background all read as drawn.

    Raises:
        ImageError: (a ValueError) naming the file: missing, damaged or not an image.
    """
    img, why = _decode(Path(path), None)
    if img is None:
        raise ImageError(f"cannot read mask image {path}: {why}")
    if img.ndim == 3:
        channels = img.shape[2]
        crowd = img[:, :, : 3 if channels >= 3 else 1].any(axis=2)
        if channels in (2, 4):  # alpha: fully transparent pixels are background
            crowd &= img[:, :, -1] != 0
        return crowd
    return np.asarray(img) != 0


# --------------------------------------------------------------------------------------------
# video files


class VideoFileWriter:
    """A video file written frame by frame, mp4 (``mp4v``) where OpenCV can write it, else
    MJPG AVI; :meth:`close` reads the file back and checks that every frame is in it.

    OpenCV's video writers do not fail when the disk is full (they drop frames or the index),
    so the count is the only reliable check; it costs one decoding pass (about 0.4 s for 300
    frames of 640x480). Any failure is an OSError naming the file.

    Args:
        stem: the file's path without suffix (``.mp4`` or ``.avi`` is added).
        fps: frames per second.
        size: (width, height) of the frames.
    """

    CODECS = (("mp4v", ".mp4"), ("MJPG", ".avi"))

    def __init__(self, stem: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        import cv2

        stem = Path(stem)
        self.size = (int(size[0]), int(size[1]))
        self.frames = 0
        for fourcc, ext in self.CODECS:
            path = stem.with_suffix(ext)
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, self.size)
            if writer.isOpened():
                self.path, self.fourcc, self._writer = path, fourcc, writer
                return
            writer.release()
            with contextlib.suppress(OSError):
                _remove(path)
        raise OSError(f"{stem}: OpenCV cannot write a video here (tried mp4v .mp4, MJPG .avi)")

    def _failed(self, what: str) -> OSError:
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            free = -1
        full = " (No space left on device)" if free == 0 else ""
        code = errno.ENOSPC if free == 0 else errno.EIO
        return OSError(code, f"{self.path}: could not be written: {what}{full}")

    def write(self, bgr: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 BGR frame."""
        if self._writer is None:
            raise ValueError(f"{self.path}: write after close")
        ok = self._writer.write(bgr)
        if ok is False:  # OpenCV >= 5 reports a failed write; older versions return None
            raise self._failed(f"the encoder failed at frame {self.frames}")
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and check it holds every frame written; returns its path."""
        import cv2

        if self._writer is None:
            return self.path
        self._writer.release()
        self._writer = None
        cap = cv2.VideoCapture(str(self.path))
        count = 0
        try:
            while cap.isOpened() and cap.grab():
                count += 1
        finally:
            cap.release()
        if count != self.frames:
            raise self._failed(f"{count} of the {self.frames} frames written can be read back")
        return self.path

    def abort(self) -> None:
        """Stop writing without checking (the file is being thrown away)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None


# --------------------------------------------------------------------------------------------
# atomic folders


def _temp_head(target: Path) -> str:
    """Name prefix of the temporaries (files and folders) of ``target`` on this host
    (``.NAME.tmp-HOST-``); a writer's own temporaries follow it with ``PID-``."""
    return f".{target.name}.tmp-{socket.gethostname()}-"


def _temp_prefix(target: Path) -> str:
    """Name prefix of this process's temporaries of ``target``."""
    return f"{_temp_head(target)}{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can probe: leave it alone
    return True


def _remove_entry(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            entry.unlink()


def remove_abandoned_temporaries(target: Path) -> None:
    """Remove the temporaries (folders and files) of ``target`` left by writers on this host
    that were killed (SIGKILL, power loss) before they could clean up; those of live writers
    are kept."""
    head = _temp_head(target)
    for entry in target.parent.glob(glob.escape(head) + "*"):
        pid_text = entry.name[len(head) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            _remove_entry(entry)


def remove_abandoned_in(folder: str | os.PathLike) -> list[Path]:
    """Remove every temporary in ``folder`` (of any target) whose writer on this host is dead;
    returns what was removed."""
    pattern = re.compile(r"\..+\.tmp-" + re.escape(socket.gethostname()) + r"-(\d+)-")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            _remove_entry(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


def output_folder(path: str | os.PathLike) -> Path:
    """Create the output folder ``path`` if needed (parents too; permissions as the umask
    allows) and remove the temporaries that killed writers left in it. OSError naming it if it
    cannot be created."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(
            exc.errno, f"{path}: cannot create the output folder ({exc.strerror})"
        ) from exc
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{path}: exists and is not a folder")
    remove_abandoned_in(path)
    return path


def check_writable(folder: str | os.PathLike) -> Path:
    """Create an empty probe file in ``folder`` and remove it: the check that outputs can be
    written there, made before any work starts. Returns ``folder``.

    Raises:
        OSError: naming ``folder`` (read-only file system, no permission, not a folder).
    """
    folder = Path(folder)
    try:
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(folder / "write-probe"), dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise type(exc)(
            exc.errno, f"{folder}: cannot write in the output folder ({exc.strerror or exc})"
        ) from exc
    return folder


class AtomicFolder:
    """A folder written under a temporary name beside ``target`` (:attr:`path`) and moved into
    place by :meth:`commit`; leaving the ``with`` block without committing removes it.

    Args:
        target: the folder to create.
        overwrite: replace an existing ``target`` on commit (the old folder is moved aside
            first, then removed); otherwise an existing ``target`` is a FileExistsError.
    """

    def __init__(self, target: str | os.PathLike, overwrite: bool = False) -> None:
        self.target = Path(target)
        self.overwrite = overwrite
        if self.target.exists() and not overwrite:
            raise FileExistsError(f"{self.target}: already exists (pass overwrite=True)")
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            remove_abandoned_temporaries(self.target)
            self.path = Path(
                tempfile.mkdtemp(prefix=_temp_prefix(self.target), dir=self.target.parent)
            )
            os.chmod(self.path, 0o777 & ~_umask())
        except OSError as exc:
            raise write_error(self.target, exc) from exc
        self.committed = False

    def __enter__(self) -> AtomicFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary folder (nothing reaches ``target``)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> Path:
        """Move the finished folder to ``target`` and return ``target``.

        Without ``overwrite``, a ``target`` that another writer completed meanwhile wins: this
        copy is discarded and FileExistsError says so. With ``overwrite`` an old ``target`` is
        replaced (moved aside, then removed), whoever wrote it.
        """
        for _ in range(100):  # retried only while other writers keep committing in between
            old = None
            try:
                if self.overwrite and self.target.exists():
                    old = Path(
                        tempfile.mkdtemp(prefix=_temp_prefix(self.target), dir=self.target.parent)
                    )
                    try:
                        os.replace(self.target, old / "previous")
                    except FileNotFoundError:
                        pass  # another writer moved it first
                os.rename(self.path, self.target)
            except OSError as exc:
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
                lost = exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR)
                if lost and self.overwrite:
                    continue
                self.discard()
                if lost:
                    raise FileExistsError(
                        errno.EEXIST,
                        f"{self.target}: was completed by another writer meanwhile; it is kept "
                        "and this copy was discarded",
                    ) from exc
                raise write_error(self.target, exc) from exc
            self.committed = True
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            return self.target
        self.discard()
        raise FileExistsError(errno.EEXIST, f"{self.target}: other writers keep replacing it")


# --------------------------------------------------------------------------------------------
# output names


def output_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """A distinct output folder name per input: the file stem (a folder's own name), or the
    parent folder's name for a synthetic scene's ``video.*`` and where stems collide
    (``a/x.mp4``, ``b/x.mp4`` -> ``a``, ``b``); names still equal get ``-2``, ``-3``, ... in
    input order.

    A live source (:func:`pympas.video.is_stream`) is named after the last part of its URL's
    path (its host where there is none), ``cameraN`` for camera N, keeping only letters, digits,
    ``.``, ``_`` and ``-``.

    Example:
        >>> output_names(["a/x.mp4", "b/x.mp4", "c/y.avi", "rtsp://cam.local/live/main"])
        ['a', 'b', 'y', 'main']
    """
    from pympas.video import is_stream

    ps = [Path(str(p)) for p in paths]

    def parent(p: Path) -> str:
        return p.resolve().parent.name

    def stream(p: str | os.PathLike) -> str:
        import re
        from urllib.parse import urlsplit

        if not isinstance(p, str) or "://" not in p:
            return f"camera{int(p)}"
        url = urlsplit(p)
        name = Path(url.path).stem or url.hostname or "stream"
        return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "stream"

    names = [
        stream(raw) if is_stream(raw)
        else p.resolve().name if p.is_dir() else parent(p) if p.stem == "video" else p.stem
        for raw, p in zip(paths, ps, strict=True)
    ]  # fmt: skip
    dup = {n for n in names if names.count(n) > 1}
    names = [
        parent(p) if n in dup and not is_stream(raw) else n
        for raw, p, n in zip(paths, ps, names, strict=True)
    ]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out
