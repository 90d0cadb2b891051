"""``--shard I/N`` and the input list it cuts: folders and quoted glob patterns expanded in a fixed
order, parts disjoint, covering, balanced, named as in the whole list, and resumable."""

from __future__ import annotations

import json

import pytest
from helpers.scenes import moving_blobs, write_video

from pympas.cli import main
from pympas.cli._inputs import expand_inputs, parse_shard, shard


def _inputs(tmp_path):
    """Arguments of every kind: a folder of videos (natural order: v2 before v10), a video given
    twice, a file, a name that collides with another folder's, a missing path, an empty folder."""
    for sub in ("cams", "other"):
        (tmp_path / sub).mkdir()
    for name in ("v10.avi", "v2.avi", "v1.avi", "x.mp4"):
        (tmp_path / "cams" / name).write_bytes(b"")
    (tmp_path / "other" / "x.mp4").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    return [
        str(tmp_path / "cams"),
        str(tmp_path / "cams" / "v1.avi"),  # again: processed once
        str(tmp_path / "other" / "x.mp4"),
        str(tmp_path / "missing.avi"),
        str(tmp_path / "empty"),
    ]


def test_the_expanded_list_has_a_fixed_order_and_names_distinct_over_the_whole_list(tmp_path):
    videos, bad = expand_inputs(_inputs(tmp_path))
    cams, other = tmp_path / "cams", tmp_path / "other"
    assert videos == [
        (str(cams / "v1.avi"), "v1"), (str(cams / "v2.avi"), "v2"),
        (str(cams / "v10.avi"), "v10"), (str(cams / "x.mp4"), "cams"),
        (str(other / "x.mp4"), "other"),
    ]  # fmt: skip
    assert bad == [
        (str(tmp_path / "missing.avi"), "no such file or folder"),
        (str(tmp_path / "empty"), "folder has no images and no videos"),
    ]


def test_quoted_glob_patterns_are_expanded_in_natural_order_and_a_miss_is_named(tmp_path):
    args = _inputs(tmp_path)
    videos, bad = expand_inputs([str(tmp_path / "**" / "v*.avi"), str(tmp_path / "none*.mp4")])
    assert [name for _, name in videos] == ["v1", "v2", "v10"]
    assert bad == [(str(tmp_path / "none*.mp4"), "no file or folder matches this pattern")]
    assert expand_inputs([str(tmp_path / "c[a]ms")]) == expand_inputs(args[:1])


def test_shards_are_disjoint_cover_the_input_are_balanced_and_keep_the_whole_lists_names(
    tmp_path,
):
    args = _inputs(tmp_path)
    videos, bad = expand_inputs(args)
    everything = videos + bad
    for count in range(1, len(everything) + 3):  # up to more parts than inputs
        parts = [expand_inputs(args, (index, count)) for index in range(1, count + 1)]
        assert parts == [expand_inputs(args, (i, count)) for i in range(1, count + 1)]  # fixed
        flat = [entry for v, b in parts for entry in v + b]
        assert len(flat) == len(set(flat)) == len(everything)  # disjoint
        assert set(flat) == set(everything)  # covering, with the names of the whole list
        sizes = [len(v) + len(b) for v, b in parts]
        assert max(sizes) - min(sizes) <= 1, (count, sizes)  # balanced
    for count in range(1, 12):
        items = list(range(9))
        parts = [shard(items, i, count) for i in range(1, count + 1)]
        assert sorted(x for p in parts for x in p) == items
        assert all(p == sorted(p) for p in parts)


@pytest.mark.parametrize("command", ["label", "segment"])
@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "3", "1/0", "-1/2", "1/2/3"])
def test_a_bad_shard_is_an_error_naming_the_option(tmp_path, capsys, command, value):
    args = [command, *(["model.pt"] if command == "segment" else []), str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "-o", str(tmp_path / "out"), f"--shard={value}"])
    assert exit_info.value.code == 2
    said = "argument --shard: must be I/N with 1 <= I <= N (part I of N, counted from 1), got"
    assert f"{said} {value!r}" in capsys.readouterr().err
    assert parse_shard(" 2 / 3 ") == (2, 3)


def test_shard_jobs_label_disjoint_sets_the_whole_run_would_and_a_rerun_resumes(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        write_video(src / f"walk{i}.avi", moving_blobs(21, seed=i))
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["label", str(src), "-o", str(whole), "-q"]) == 0
    said = []
    for index in (1, 2):
        assert main(["label", str(src), "-o", str(parts), "-q", "--shard", f"{index}/2"]) == 0
        said.append(capsys.readouterr().out)
    assert "2 labelled, 0 skipped" in said[0] and "1 labelled, 0 skipped" in said[1]
    assert sorted(p.name for p in parts.iterdir()) == ["walk0", "walk1", "walk2"]
    for name in ("walk0", "walk1", "walk2"):
        meta, ref = (json.loads((d / name / "labels.json").read_text()) for d in (parts, whole))
        assert meta == ref
    stamp = (parts / "walk1" / "labels.json").stat().st_mtime_ns
    assert main(["label", str(src), "-o", str(parts), "-q", "--shard", "2/2"]) == 0
    assert "0 labelled, 1 skipped" in capsys.readouterr().out
    assert (parts / "walk1" / "labels.json").stat().st_mtime_ns == stamp
