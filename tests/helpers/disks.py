"""A real full disk for the tests: a small tmpfs mounted for one test.

Mounting needs root (or CAP_SYS_ADMIN); where the machine does not allow it the tests that
use it are skipped, naming the reason.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class SmallDisk:
    """A mounted tmpfs of a few MiB at :attr:`path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def free(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Fill the disk with a ballast file so that about ``leave`` bytes stay free."""
        with open(self.path / ".ballast", "ab") as fh:
            fh.write(b"\0" * max(self.free() - leave, 0))

    def used_by_files(self) -> dict[str, int]:
        """Size of every file on the disk (relative path -> bytes), ballast excluded."""
        return {
            str(p.relative_to(self.path)): p.stat().st_size
            for p in self.path.rglob("*")
            if p.is_file() and p.name != ".ballast"
        }


def mount_small_disk(where: Path, size: str = "2m", read_only: bool = False) -> SmallDisk | str:
    """Mount a tmpfs of ``size`` (read-only if asked) at ``where``; the disk, or why it could not
    be mounted."""
    where.mkdir(parents=True, exist_ok=True)
    if os.name != "posix" or os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    options = f"size={size},mode=0777" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"cannot mount a tmpfs here: {done.stderr.strip()}"
    return SmallDisk(where)


def unmount(disk: SmallDisk) -> None:
    subprocess.run(["umount", "-l", str(disk.path)], capture_output=True)
