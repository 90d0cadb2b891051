"""``pympas label --ray`` and ``pympas segment --ray`` on a local Ray instance (2 CPUs, started
once for the module): the same label sets and masks as the commands write without Ray, the
same summary and exit code, and a killed run that the next one resumes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import zipfile
from pathlib import Path

import pytest
from helpers.processes import PYTHON, env, long_videos, running, temporaries, wait_for
from helpers.scenes import videos_one_corrupt

from pympas.cli import main
from pympas.labelset import is_complete

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'pympas[ray]')")


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs; its workers import the pympas imported here."""
    from pympas.cli._ray import _package_root, in_package_root

    path = os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")]))
    env_vars = {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    with in_package_root():  # as the commands start Ray: workers import this pympas
        ray.init(num_cpus=2, include_dashboard=False, logging_level="warning",
                 runtime_env={"env_vars": env_vars})  # fmt: skip
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _contents(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` as bytes; a zip archive (particles.npz) as the bytes of each
    member, without the times its zip headers record."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    files[f"{name}:{member}"] = zf.read(member)
        else:
            files[name] = path.read_bytes()
    return files


def test_ray_labels_the_good_videos_as_one_process_does_and_reports_the_corrupt_one(
    local_ray, tmp_path, capsys
):
    videos = videos_one_corrupt(tmp_path / "in")
    alone, on_ray = tmp_path / "alone", tmp_path / "ray"
    assert main(["label", str(videos), "-o", str(alone), "-q"]) == 1
    said_alone = capsys.readouterr().out
    assert main(["label", str(videos), "-o", str(on_ray), "-q", "--ray"]) == 1
    said = capsys.readouterr().out
    assert said.startswith("pympas label: 2 labelled, 0 skipped (already complete), 1 failed")
    assert f"FAILED  {videos / 'broken.avi'}: " in said and "truncated" in said
    assert said == said_alone  # the same summary, line for line
    assert sorted(p.name for p in on_ray.iterdir()) == ["walk_a", "walk_b"]
    for name in ("walk_a", "walk_b"):
        assert _contents(on_ray / name) == _contents(alone / name), name


def test_segment_on_ray_writes_the_masks_the_loop_writes(local_ray, tmp_path, capsys):
    from helpers.checkpoints import tiny_checkpoint

    torch = pytest.importorskip("torch")
    checkpoint = tiny_checkpoint(tmp_path / "tiny.pt")
    videos = videos_one_corrupt(tmp_path / "in")
    (videos / "broken.avi").write_bytes(b"not a video")
    common = ["segment", str(checkpoint), str(videos), "--device", "cpu", "-q", "--amp", "fp32"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the Ray workers (OMP_NUM_THREADS=1): the same arithmetic
    try:
        assert main([*common, "-o", str(tmp_path / "alone")]) == 1
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    assert main([*common, "-o", str(tmp_path / "ray"), "--ray", "--ray-cpus-per-task", "1"]) == 1
    said = capsys.readouterr()
    assert f"{videos / 'walk_a.avi'}: 25 masks -> {tmp_path / 'ray' / 'walk_a'} (" in said.out
    assert "pympas segment: 1 of 3 videos failed:" in said.err and "broken.avi" in said.err
    for name in ("walk_a", "walk_b"):
        masks = _contents(tmp_path / "ray" / name)
        assert len(masks) == 25 and masks == _contents(tmp_path / "alone" / name)
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["walk_a", "walk_b"]


def test_a_killed_ray_run_loses_no_finished_set_and_the_next_run_resumes(
    local_ray, tmp_path, capsys
):
    """The driver is killed (SIGKILL) after the first label set is complete, while the second
    is being written on the cluster: the complete set is kept and skipped by the rerun, the
    rest is labelled, and every set equals the one a single process writes."""
    folder = long_videos(tmp_path / "in", count=1, frames=300)  # walk0: done first
    long_videos(tmp_path / "long", count=3, frames=1500)
    for i in (1, 2):
        os.replace(tmp_path / "long" / f"walk{i}.avi", folder / f"walk{i}.avi")
    out = tmp_path / "out"
    cmd = [PYTHON, "-m", "pympas", "label", str(folder), "-o", str(out), "-q", "--ray", local_ray]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
                            start_new_session=True, cwd=tmp_path)  # fmt: skip
    try:
        assert wait_for(lambda: is_complete(out / "walk0"), 120), proc.communicate(timeout=5)
        os.kill(proc.pid, signal.SIGKILL)
        assert temporaries(out)  # a set was being written: it stays a temporary, never a set
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert not is_complete(out / "walk2")  # the run was cut short
    stamp = (out / "walk0" / "labels.json").stat().st_mtime_ns
    # the killed driver's tasks stop (Ray ends a dead driver's workers): none writes on
    assert wait_for(lambda: not any(running(pid) for pid in temporaries(out).values()), 30)

    assert main(["label", str(folder), "-o", str(out), "-q", "--ray"]) == 0
    said = capsys.readouterr().out
    assert "skipped " + str(folder / "walk0.avi") in said
    assert (out / "walk0" / "labels.json").stat().st_mtime_ns == stamp
    assert not temporaries(out)  # those of the killed run's tasks were removed
    assert main(["label", str(folder), "-o", str(tmp_path / "alone"), "-q"]) == 0
    for name in ("walk0", "walk1", "walk2"):
        assert _contents(out / name) == _contents(tmp_path / "alone" / name), name


@pytest.mark.parametrize(("command", "code"), [("label", 2), ("segment", 1)])
def test_an_unwritable_output_is_refused_before_any_task(
    unwritable_folder, tmp_path, capsys, monkeypatch, command, code
):
    from helpers.checkpoints import tiny_checkpoint

    from pympas.cli import label, segment

    submitted = []
    for module in (label, segment):
        monkeypatch.setattr(module, "run_on_ray", lambda *job, **kw: submitted.append(job))
    videos = videos_one_corrupt(tmp_path / "in")
    model = [str(tiny_checkpoint(tmp_path / "tiny.pt"))] if command == "segment" else []
    assert main([command, *model, str(videos), "-o", str(unwritable_folder), "--ray"]) == code
    assert submitted == []
    err = capsys.readouterr().err
    assert err.startswith(f"pympas {command}: error: ") and len(err.splitlines()) == 1
    assert f"{unwritable_folder}: cannot write in the output folder" in err


def test_the_comparison_of_label_sets_ignores_the_zip_times_and_nothing_else(tmp_path):
    for name, day, data in (("a", 1, b"x"), ("b", 2, b"x"), ("c", 1, b"y")):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(zipfile.ZipInfo("m.npy", (2020, 1, day, 0, 0, 0)), data)
        (tmp_path / name).mkdir()
        (tmp_path / name / "particles.npz").write_bytes(buf.getvalue())
    assert (tmp_path / "a" / "particles.npz").read_bytes() != (
        tmp_path / "b" / "particles.npz"
    ).read_bytes()
    assert _contents(tmp_path / "a") == _contents(tmp_path / "b")
    assert _contents(tmp_path / "a") != _contents(tmp_path / "c")
