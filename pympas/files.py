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
- :func:`output_names`: one distinct output folder name per input path.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "AtomicFolder",
    "output_names",
    "read_mask",
    "write_atomic",
    "write_png",
    "write_text_atomic",
]


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it over ``path``.

    The parent folder is created if needed. On any error the temporary file is removed and
    ``path`` is left as it was; OSError messages name ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise OSError(exc.errno, f"{path}: could not be written ({exc.strerror or exc})") from exc
    except BaseException:
        _remove(tmp)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_atomic`)."""
    data = text.encode("utf-8")
    return write_atomic(path, lambda fh: fh.write(data))


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
        _remove(path)
        raise OSError(exc.errno, f"{path}: could not be written ({exc.strerror or exc})") from exc


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask image as (H, W) bool: nonzero in any channel = crowd."""
    import cv2

    path = Path(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if img is None:
        raise ValueError(f"cannot read mask image {path}")
    if img.ndim == 3:
        img = img.any(axis=2)
    return np.asarray(img) != 0


# --------------------------------------------------------------------------------------------
# atomic folders


def _temp_head(target: Path) -> str:
    """Name prefix of the temporary folders of ``target`` on this host (``.NAME.tmp-HOST-``);
    a writer's own folder follows it with ``PID-``."""
    return f".{target.name}.tmp-{socket.gethostname()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can probe: leave it alone
    return True


def remove_abandoned_temporaries(target: Path) -> None:
    """Remove temporary folders of ``target`` left by writers on this host that were killed
    (SIGKILL, power loss) before they could clean up; folders of live writers are kept."""
    head = _temp_head(target)
    for entry in target.parent.glob(glob.escape(head) + "*"):
        pid_text = entry.name[len(head) :].split("-", 1)[0]
        if entry.is_dir() and pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)


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
        if self.target.exists() and not overwrite:
            raise FileExistsError(f"{self.target}: already exists (pass overwrite=True)")
        self.target.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned_temporaries(self.target)
        prefix = f"{_temp_head(self.target)}{os.getpid()}-"
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.target.parent))
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
        """Move the finished folder to ``target`` (replacing an old one) and return ``target``."""
        old = None
        if self.target.exists():  # overwrite: move the old folder aside, then swap
            old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.old-", dir=self.target.parent))
            os.replace(self.target, old / "previous")
        os.replace(self.path, self.target)
        self.committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target


# --------------------------------------------------------------------------------------------
# output names


def output_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """A distinct output folder name per input: the file stem (a folder's own name), or the
    parent folder's name for a synthetic scene's ``video.*`` and where stems collide
    (``a/x.mp4``, ``b/x.mp4`` -> ``a``, ``b``); names still equal get ``-2``, ``-3``, ... in
    input order.

    Example:
        >>> output_names(["a/x.mp4", "b/x.mp4", "c/y.avi"])
        ['a', 'b', 'y']
    """
    ps = [Path(p) for p in paths]

    def parent(p: Path) -> str:
        return p.resolve().parent.name

    names = [
        p.resolve().name if p.is_dir() else parent(p) if p.stem == "video" else p.stem for p in ps
    ]
    dup = {n for n in names if names.count(n) > 1}
    names = [parent(p) if n in dup else n for p, n in zip(ps, names, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out
