"""pympas-train: tiny CPU runs, exact resume, bad inputs, DDP on gloo."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

from helpers.labelsets import write_labelset  # noqa: E402
from helpers.processes import wait_for  # noqa: E402

from pympas.cli.train import main  # noqa: E402
from pympas.config import TrainConfig  # noqa: E402
from pympas.model.checkpoint import load_model, read_checkpoint  # noqa: E402
from pympas.model.data import LabelSetDataset  # noqa: E402
from pympas.train import train  # noqa: E402

TINY = dict(arch="w18-small", batch_size=2, crop=64, num_workers=0, progress=False, log_every=1)


def _log(run):
    with open(os.path.join(run, "log.jsonl")) as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def run4(labelset, tmp_path_factory):
    """An uninterrupted 4-step run with checkpoints after steps 2 and 4."""
    out = tmp_path_factory.mktemp("run") / "a"
    train(TrainConfig(labelsets=[labelset], out=str(out), steps=4, save_every=2, **TINY))
    return str(out)


def test_tiny_run_lowers_the_loss(labelset, tmp_path):
    out = train(
        TrainConfig(
            labelsets=[labelset],
            out=str(tmp_path / "r"),
            steps=10,
            lr=0.01,
            scale_min=0.8,
            scale_max=1.2,
            save_every=100,
            **TINY,
        )
    )
    log = _log(out)
    assert [r["step"] for r in log] == list(range(1, 11))
    first, last = log[:3], log[-3:]
    for key in ("loss", "l_seg", "l_air"):
        assert sum(r[key] for r in last) < sum(r[key] for r in first), key
    assert log[0]["lr"] == pytest.approx(0.01) and log[-1]["lr"] < log[0]["lr"]  # poly decay
    # the run folder records config and command, the last checkpoint is easy to find
    cfg = json.load(open(os.path.join(out, "config.json")))
    assert cfg["arch"] == "w18-small" and cfg["steps"] == 10 and cfg["loss"] == "dice"
    assert os.path.isfile(os.path.join(out, "command.txt"))
    ckpt = read_checkpoint(os.path.join(out, "checkpoint_last.pt"))
    assert ckpt["step"] == 10 and ckpt["pympas_version"] and "optimizer" in ckpt
    model = load_model(os.path.join(out, "checkpoint_last.pt"))
    assert not model.training
    with torch.no_grad():
        assert tuple(model(torch.rand(1, 3, 48, 64)).shape) == (1, 1, 48, 64)


def test_resume_gives_the_same_next_steps_as_an_uninterrupted_run(run4, tmp_path):
    resumed = str(tmp_path / "b")
    # resume from the step-2 checkpoint into a new folder, with a data-loader worker this time
    train(
        TrainConfig(
            out=resumed,
            resume=os.path.join(run4, "checkpoint_000002.pt"),
            num_workers=1,
            progress=False,
        )
    )
    full, cont = _log(run4), _log(resumed)
    assert [r["step"] for r in cont] == [3, 4]
    for a, b in zip(full[2:], cont, strict=True):
        assert a["loss"] == b["loss"] and a["l_air"] == b["l_air"], (a, b)
    sa = read_checkpoint(os.path.join(run4, "checkpoint_last.pt"))["model"]
    sb = read_checkpoint(os.path.join(resumed, "checkpoint_last.pt"))["model"]
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)


def test_cli_resume_last_extends_a_run(run4, tmp_path):
    run = str(tmp_path / "c")
    shutil.copytree(run4, run)
    assert main(["-o", run, "--resume", "--steps", "5", "--no-progress"]) == 0
    assert read_checkpoint(os.path.join(run, "checkpoint_last.pt"))["step"] == 5
    assert _log(run)[-1]["step"] == 5
    # nothing left to do is an error naming the checkpoint
    assert main(["-o", run, "--resume", "--steps", "5", "--no-progress"]) == 2
    # a fresh run into a folder that already holds one is refused
    assert main([run4, "-o", run, "--steps", "1", "--no-progress"]) == 2


def test_checkpoint_of_another_arch_or_corrupt_is_named(run4, tmp_path):
    last = os.path.join(run4, "checkpoint_last.pt")
    with pytest.raises(ValueError, match=r"checkpoint_last\.pt.*'w18-small', expected 'w48'"):
        load_model(last, arch="w48")
    with pytest.raises(ValueError, match=r"checkpoint_last\.pt: checkpoint of another arch"):
        train(TrainConfig(out=str(tmp_path / "x"), resume=last, arch="w32", progress=False))
    # weights of w18-small under a config claiming w18
    ckpt = read_checkpoint(last)
    ckpt["config"]["arch"] = "w18"
    lied = tmp_path / "lied.pt"
    torch.save(ckpt, lied)
    with pytest.raises(ValueError, match=r"lied\.pt: weights do not fit MPASNet 'w18'"):
        load_model(lied)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(open(last, "rb").read()[:1000])
    with pytest.raises(ValueError, match=r"broken\.pt: corrupt"):
        load_model(broken)


def test_bad_label_sets_error_naming_the_file(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        LabelSetDataset([missing])
    (tmp_path / "plain").mkdir()
    with pytest.raises(FileNotFoundError, match=r"plain.*labels\.json"):
        LabelSetDataset([tmp_path / "plain"])

    empty = write_labelset(tmp_path / "empty", n_frames=1)
    meta = json.load(open(os.path.join(empty, "labels.json")))
    meta["frames"] = []
    json.dump(meta, open(os.path.join(empty, "labels.json"), "w"))
    with pytest.raises(ValueError, match=r"empty.*labels\.json.*empty"):
        LabelSetDataset([empty])

    sized = write_labelset(tmp_path / "sized", n_frames=2, size=(32, 40))
    import cv2
    import numpy as np

    cv2.imwrite(os.path.join(sized, "masks", "000001.png"), np.zeros((32, 41), np.uint8))
    with pytest.raises(ValueError, match=r"sized/masks/000001\.png has size 41x32"):
        LabelSetDataset([sized])

    corrupt = write_labelset(tmp_path / "corrupt", n_frames=2, size=(32, 40))
    open(os.path.join(corrupt, "frames", "000000.png"), "wb").write(b"\x89PNG garbage")
    with pytest.raises(ValueError, match=r"corrupt/frames/000000\.png"):
        LabelSetDataset([corrupt])

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            train(TrainConfig(labelsets=[sized], out=str(tmp_path / "gpu"), device="cuda"))
    # the CLI turns these into an error message naming the file, exit status 2
    assert main([str(missing), "-o", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "nowhere" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([corrupt, "-o", str(tmp_path / "run"), "--arch", "w64"])


def test_ablation_switches_drop_the_augmented_branch_terms(labelset, tmp_path):
    common = dict(labelsets=[labelset], steps=1, save_every=10, **TINY)
    out = train(TrainConfig(out=str(tmp_path / "star"), siamese=False, **common))
    assert _log(out)[0]["l_air"] == 0.0  # MPASNet*: no augmented branch, no L_AIR
    from pympas.model import HRNet

    weights = tmp_path / "hrnet_w18_small_v2.pth"
    torch.save({**HRNet("w18-small").state_dict(), "classifier.weight": torch.zeros(2)}, weights)
    out = train(
        TrainConfig(
            out=str(tmp_path / "ce"),
            air=False,
            loss="ce",
            pretrained=str(weights),
            init="torch",
            **common,
        )  # PyTorch's small head init: a known BCE range
    )
    report = open(os.path.join(out, "pretrained.txt")).read()
    assert str(weights) in report and "ignored 1 classification-head keys" in report
    rec = _log(out)[0]
    assert rec["l_air"] == 0.0 and rec["loss"] == pytest.approx(rec["l_seg"])
    assert 0.3 < rec["l_seg"] < 2.0  # BCE of an untrained head, not a Dice value in [0, 1)


def _ddp_env() -> dict[str, str]:
    """The environment of a DDP process: one thread, the pympas imported here."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    import pympas

    root = os.path.dirname(os.path.dirname(os.path.abspath(pympas.__file__)))  # as imported here
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _tiny_ddp(labelset: str, out, steps: int) -> list[str]:
    """``python -m pympas.train`` options of a tiny CPU run."""
    return [
        "-m", "pympas.train", labelset, "-o", str(out), "--arch", "w18-small", "--steps",
        str(steps), "--batch-size", "1", "--crop", "32", "--workers", "0", "--log-every", "1",
        "--device", "cpu", "--no-progress",
    ]  # fmt: skip


def test_ddp_on_two_gloo_processes_trains_with_distinct_random_streams_per_rank(labelset, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        *_tiny_ddp(labelset, out, 2),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=_ddp_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = _log(out)
    assert [r["step"] for r in log] == [1, 2]
    assert log[0]["images_per_s"] > 0
    ckpt = read_checkpoint(out / "checkpoint_last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng_per_rank"]) == 2
    # the two ranks drew different random streams
    assert not torch.equal(ckpt["rng_per_rank"][0]["torch"], ckpt["rng_per_rank"][1]["torch"])


def test_air_mode_is_recorded_and_runs_saved_before_it_resume_with_raw_air(run4, tmp_path):
    assert read_checkpoint(os.path.join(run4, "checkpoint_last.pt"))["config"]["air_mode"] == (
        "standardized"
    )
    # a checkpoint written before air_mode existed was trained with Eq. 7 on raw features
    old = str(tmp_path / "old")
    shutil.copytree(run4, old)
    last = os.path.join(old, "checkpoint_last.pt")
    ckpt = read_checkpoint(last)
    del ckpt["config"]["air_mode"]
    torch.save(ckpt, last)
    assert main(["-o", old, "--resume", "--steps", "5", "--no-progress"]) == 0
    assert read_checkpoint(last)["config"]["air_mode"] == "raw"
    # switching the mode of a run on resume is a conflict naming the setting
    new = str(tmp_path / "new")
    shutil.copytree(run4, new)
    with pytest.raises(ValueError, match="air_mode='standardized' in the checkpoint, 'raw'"):
        train(TrainConfig(out=new, resume="last", steps=6, air_mode="raw", progress=False))


def test_unknown_air_mode_is_refused_by_name(labelset, tmp_path):
    with pytest.raises(ValueError, match="air_mode must be one of"):
        train(TrainConfig(labelsets=[labelset], out=str(tmp_path / "r"), air_mode="l1", **TINY))
    with pytest.raises(SystemExit):
        main([labelset, "-o", str(tmp_path / "r"), "--air-mode", "l1"])
    assert not (tmp_path / "r").exists()


def test_bg_label_is_taken_from_the_command_line_recorded_and_unknown_names_refused(
    labelset, tmp_path
):
    run = str(tmp_path / "r")
    args = [labelset, "-o", run, "--steps", "1", "--batch-size", "1", "--crop", "32",
            "--workers", "0", "--no-progress", "--arch", "w18-small"]  # fmt: skip
    assert main([*args, "--bg-label", "ignore"]) == 0
    assert read_checkpoint(os.path.join(run, "checkpoint_last.pt"))["config"]["bg_label"] == (
        "ignore"
    )
    with pytest.raises(SystemExit):
        main([labelset, "-o", str(tmp_path / "bad"), "--bg-label", "floor"])
    assert not (tmp_path / "bad").exists()


def test_resume_cuts_the_log_back_to_the_checkpoint_so_no_step_repeats(run4, tmp_path):
    """A run killed after logging step 4 but with its last checkpoint at step 2, resumed."""
    run = str(tmp_path / "r")
    shutil.copytree(run4, run)
    with open(os.path.join(run, "log.jsonl"), "a") as fh:
        fh.write('{"step": 5, "loss": 0.')  # the line a kill cut in half
    ckpt = os.path.join(run, "checkpoint_000002.pt")
    assert main(["-o", run, "--resume", ckpt, "--no-progress"]) == 0
    steps = [r["step"] for r in _log(run)]
    assert steps == [1, 2, 3, 4]
    full, cont = _log(run4), _log(run)
    assert [r["loss"] for r in full] == [r["loss"] for r in cont]  # exact resume, as before


def test_checkpoint_temporaries_of_a_run_killed_while_saving_are_removed_on_the_next_start(
    run4, tmp_path
):
    run = tmp_path / "r"
    shutil.copytree(run4, run)
    writer = (
        "import sys, time\n"
        "from pympas.files import write_atomic\n"
        "def slow(fh):\n"
        "    fh.write(b'half a checkpoint')\n"
        "    fh.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        f"write_atomic({str(run / 'checkpoint_000006.pt')!r}, slow)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    proc.kill()  # SIGKILL in the middle of the write
    proc.wait()
    left = [p.name for p in run.glob(".checkpoint_000006.pt.tmp-*")]
    assert len(left) == 1 and f"-{proc.pid}-" in left[0]
    assert main(["-o", str(run), "--resume", "--steps", "5", "--no-progress"]) == 0
    assert not list(run.glob(".*.tmp-*"))
    assert [r["step"] for r in _log(str(run))] == [1, 2, 3, 4, 5]


def test_resuming_a_checkpoint_without_optimizer_state_is_an_error_naming_it(
    run4, tmp_path, capsys
):
    ckpt = read_checkpoint(os.path.join(run4, "checkpoint_000002.pt"))
    del ckpt["optimizer"]
    stripped = tmp_path / "stripped.pt"
    torch.save(ckpt, stripped)
    assert main(["-o", str(tmp_path / "r"), "--resume", str(stripped), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{stripped}: cannot be resumed, it has no optimizer state" in err
    assert "Traceback" not in err and not (tmp_path / "r").exists()


def _png_with_corrupt_data_and_valid_checksums(path):
    """Rewrite the PNG at ``path`` so that its IDAT holds a valid zlib stream (checksums right)
    of too little image data: every row after the first half is missing."""
    import struct
    import zlib

    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    data = path.read_bytes()
    at = data.index(b"IDAT") - 4
    size = struct.unpack(">I", data[at : at + 4])[0]
    rows = img.reshape(img.shape[0], -1)[: img.shape[0] // 2]
    body = zlib.compress(b"".join(b"\0" + r.tobytes() for r in rows))
    chunk = struct.pack(">I", len(body)) + b"IDAT" + body
    chunk += struct.pack(">I", zlib.crc32(b"IDAT" + body))
    path.write_bytes(data[:at] + chunk + data[at + 12 + size :])


def test_a_mask_with_corrupt_data_but_valid_checksums_fails_before_training_and_leaves_no_run(
    tmp_path, capsys
):
    from pathlib import Path

    sets = write_labelset(tmp_path / "set", n_frames=6, size=(32, 40))
    bad = Path(sets) / "masks" / "000004.png"
    _png_with_corrupt_data_and_valid_checksums(bad)
    run = tmp_path / "run"
    code = main([sets, "-o", str(run), "--steps", "50", "--arch", "w18-small", "--batch-size",
                 "1", "--crop", "32", "--workers", "0", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}: cannot read this image (" in err and "Not enough image data" in err
    assert not run.exists()  # no config.json/log.jsonl that would look like a run


def test_pretrained_weights_of_another_depth_are_an_error_unless_partial_is_asked(
    labelset, tmp_path, capsys
):
    from pympas.model import HRNet

    deeper = tmp_path / "hrnet_w18.pth"
    torch.save(HRNet("w18").state_dict(), deeper)  # same width as w18-small, more blocks
    args = [labelset, "--steps", "1", "--arch", "w18-small", "--batch-size", "1", "--crop",
            "32", "--workers", "0", "--no-progress", "--pretrained", str(deeper)]  # fmt: skip
    assert main([*args, "-o", str(tmp_path / "strict")]) == 2
    err = capsys.readouterr().err
    assert f"{deeper}: does not fit HRNet 'w18-small'" in err and "unexpected keys" in err
    assert "--pretrained-partial" in err and not (tmp_path / "strict").exists()
    shallower = tmp_path / "hrnet_w18_small.pth"
    torch.save(HRNet("w18-small").state_dict(), shallower)
    args_w18 = [a if a != "w18-small" else "w18" for a in args[:-1]] + [str(shallower)]
    assert main([*args_w18, "-o", str(tmp_path / "strict2")]) == 2
    assert "missing keys" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "partial"), "--pretrained-partial"]) == 0
    report = (tmp_path / "partial" / "pretrained.txt").read_text()
    assert "unexpected" in report and str(deeper) in report


@pytest.mark.parametrize("fate", [signal.SIGKILL, signal.SIGSTOP], ids=["dies", "hangs"])
def test_a_ddp_process_that_dies_or_hangs_makes_the_other_fail_within_the_timeout(
    labelset, tmp_path, fate
):
    """Two gloo processes started as torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT), without torchrun, which would end the survivor itself: rank 1 is killed, or
    stopped (a hung process holds its connections open), once training runs; rank 0 must end
    with an error within --ddp-timeout plus a margin, not hang."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out, timeout = tmp_path / "ddp", 5
    cmd = [sys.executable, *_tiny_ddp(labelset, out, 100000), "--ddp-timeout", str(timeout)]
    procs = []
    try:
        for rank in (0, 1):
            env = dict(_ddp_env(), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
            pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
            procs.append(subprocess.Popen(cmd, env=env, cwd=tmp_path, **pipes))
        log = out / "log.jsonl"
        assert wait_for(lambda: log.exists() and log.read_text().count("\n") >= 2, 180), [
            p.poll() for p in procs
        ]
        os.kill(procs[1].pid, fate)
        start = time.monotonic()
        _, err = procs[0].communicate(timeout=timeout + 60)
        took = time.monotonic() - start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert procs[0].returncode != 0, err[-2000:]
    assert took < timeout + 60  # without the timeout gloo would wait 30 minutes for a hung peer
    if fate == signal.SIGSTOP:
        assert "Timed out" in err, err[-2000:]
    assert not (out / "checkpoint_last.pt").exists()


def test_a_ddp_timeout_that_is_not_positive_is_refused_by_name(labelset, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"ddp_timeout must be > 0 seconds, got 0"):
        train(TrainConfig(labelsets=[labelset], out=str(tmp_path / "r"), ddp_timeout=0, **TINY))
    assert main([labelset, "-o", str(tmp_path / "r"), "--ddp-timeout", "-1"]) == 2
    assert "ddp_timeout must be > 0 seconds, got -1.0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_run_records_the_crm_radius_its_label_sets_were_made_with(tmp_path):
    from pympas.model.data import crm_radius

    at10 = [write_labelset(tmp_path / f"r10_{k}", seed=k, params={"radius": 10.0}) for k in (0, 1)]
    at20 = write_labelset(tmp_path / "r20", params={"radius": 20})
    bare = write_labelset(tmp_path / "bare")
    assert crm_radius(at10) == 10.0 and crm_radius([at20]) == 20.0
    assert crm_radius([*at10, at20]) is None  # two radii: no single scale fits
    assert crm_radius([at10[0], bare]) is None
    out = train(TrainConfig(labelsets=at10, out=str(tmp_path / "run"), steps=1, **TINY))
    ckpt = os.path.join(out, "checkpoint_last.pt")
    assert read_checkpoint(ckpt)["crm_radius"] == 10.0
    assert load_model(ckpt).crm_radius == 10.0


def test_a_label_set_with_empty_pseudo_masks_is_named_in_a_warning_with_their_count(tmp_path):
    import warnings

    from pympas.labelset import LabelSet
    from pympas.model.data import empty_masks

    full = write_labelset(tmp_path / "full", n_frames=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LabelSetDataset([full])  # every mask marks something: no warning
    labels = LabelSet.load(full)
    labels.masks[[0, 2]] = False
    labels.save(tmp_path / "gaps")
    assert empty_masks(tmp_path / "gaps") == 2 and empty_masks(full) == 0
    with pytest.warns(UserWarning, match=r"gaps: 2 of 3 labelled frames have an empty pseudo-mask"):
        LabelSetDataset([full, tmp_path / "gaps"])
