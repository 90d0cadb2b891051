"""The inputs of ``pympas label`` and ``pympas segment``: arguments expanded into one ordered
list of videos (folders of videos and quoted glob patterns opened here, in natural sort order),
and ``--shard I/N``, the I-th of N balanced parts of that list for schedulers without Ray (a SLURM
job array, a Kubernetes indexed job).

The list is the same on every machine: folders and patterns are expanded in natural sort order
(never in the file system's or the shell's order), repeated videos are kept once, and each video's
output name is chosen over the whole list before it is cut into shards, so N jobs with
``--shard 1/N`` ... ``--shard N/N`` write exactly the folders that one unsharded run writes.
"""

from __future__ import annotations

import argparse
import glob
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["add_shard_option", "expand_inputs", "parse_shard", "shard", "source_key"]

T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 1 <= I <= N; argparse's error otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match:
        index, count = int(match.group(1)), int(match.group(2))
        if 1 <= index <= count:
            return index, count
    raise argparse.ArgumentTypeError(
        f"must be I/N with 1 <= I <= N (part I of N, counted from 1), got {text!r}"
    )


def shard(items: Sequence[T], index: int, count: int) -> list[T]:
    """Part ``index`` (1..``count``) of ``count`` of ``items``: every ``count``-th item from item
    ``index - 1``. The parts are disjoint, cover ``items``, keep its order and differ in size by
    at most one; a part may be empty when there are fewer items than parts."""
    if not 1 <= index <= count:
        raise ValueError(f"shard: need 1 <= index <= count, got {index}/{count}")
    return list(items[index - 1 :: count])


def add_shard_option(parser: argparse.ArgumentParser) -> None:
    """``--shard I/N`` on a command that takes many videos."""
    parser.add_argument(
        "--shard", type=parse_shard, metavar="I/N",
        help="process only part I of N (1 <= I <= N) of the videos: every N-th video of the "
        "expanded input list from the I-th, so that N jobs (a SLURM array, a Kubernetes indexed "
        "job) cover the list once; output names are chosen over the whole list",
    )  # fmt: skip


def source_key(src: str) -> Any:
    """What identifies an input: its resolved path, or a live source's name (URL without its
    password, "camera N"), which is also what labels.json records as its source."""
    from pympas.video import is_stream, stream_name

    if re.fullmatch(r"camera \d+", src):  # as recorded
        return src
    return stream_name(src) if is_stream(src) else Path(src).resolve()


def _expand(arg: str) -> list[tuple[str, str | None]]:
    """One argument as (video, None) entries, or (argument, why it is no video)."""
    from pympas.video import VIDEO_EXTENSIONS, image_files, is_stream, natural_key

    p = Path(arg)
    if is_stream(arg):
        return [(arg, None)]
    if not p.exists():
        if glob.has_magic(arg):  # a pattern the shell left alone (quoted): expanded here
            matches = sorted(glob.glob(arg, recursive=True), key=natural_key)
            if not matches:
                return [(arg, "no file or folder matches this pattern")]
            return [entry for m in matches for entry in _expand(m)]
        return [(arg, "no such file or folder")]
    if p.is_dir() and not image_files(p):
        inside = [q for q in p.iterdir() if q.is_file() and q.suffix.lower() in VIDEO_EXTENSIONS]
        if not inside:
            return [(arg, "folder has no images and no videos")]
        return [(str(q), None) for q in sorted(inside, key=lambda q: natural_key(q.name))]
    return [(arg, None)]  # a video file, a folder of images, or a file that will fail to open


def expand_inputs(
    paths: Sequence[str], part: tuple[int, int] | None = None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Videos to process as (source, output name), and inputs that are no video as (path,
    reason), in argument order.

    A folder holding images is one video; a folder holding video files and no images stands
    for each of them; an argument that does not exist but holds ``*``, ``?`` or ``[`` is a glob
    pattern (``**`` descends into folders). Output names come from
    :func:`pympas.files.output_names` over every video. With ``part=(I, N)`` only the I-th of N
    parts (:func:`shard`) of the list, failed inputs included, is returned, with the names it
    has in the whole list.
    """
    from pympas.files import output_names

    entries: list[tuple[str, str | None]] = []
    seen: set[Any] = set()
    for arg in paths:
        for src, why in _expand(arg):
            if why is None:  # the same video given twice is processed once
                key = source_key(src)
                if key in seen:
                    continue
                seen.add(key)
            entries.append((src, why))
    videos = [src for src, why in entries if why is None]
    names = dict(zip(videos, output_names(videos), strict=True))
    if part is not None:
        entries = shard(entries, *part)
    return (
        [(src, names[src]) for src, why in entries if why is None],
        [(src, why) for src, why in entries if why is not None],
    )
