"""``--ray`` without Ray running in this process: ray is imported only when ``--ray`` is given,
a missing ray or a bad option is one error line, and a local Ray instance that the command
starts gives its workers the pympas the command imported (a checkout or an installed one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.processes import PYTHON, in_session, wait_for
from helpers.scenes import moving_blobs, write_video

from pympas.cli import main


def test_import_pympas_and_the_commands_without_ray_never_import_ray(tmp_path):
    write_video(tmp_path / "walk.avi", moving_blobs(21, seed=1))
    code = f"""
import contextlib, io, sys
import pympas, pympas.cli, pympas.cli.label, pympas.cli.segment
from pympas.cli import main
for command in ("label", "segment", "train"):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main([command, "--help"])
assert main(["label", {str(tmp_path / "walk.avi")!r}, "-o", {str(tmp_path / "out")!r}, "-q",
             "--shard", "1/1"]) == 0
print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
"""
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_without_ray_installed_the_option_says_what_to_install(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    out = tmp_path / "out"
    for command in (["label"], ["segment", str(tmp_path / "model.pt")]):
        assert main([*command, str(tmp_path), "-o", str(out), "--ray"]) == 2
        said = capsys.readouterr().err
        assert said == (
            f"pympas {command[0]}: error: --ray needs Ray, which is not installed: "
            "pip install 'pympas[ray]'\n"
        )
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--ray-cpus-per-task", "-1"], "--ray-cpus-per-task must be >= 0, got -1"),
        (["--ray-gpus-per-task", "nan"], "--ray-gpus-per-task must be >= 0, got nan"),
        (["--jobs", "2"], "--jobs and --ray exclude each other"),
    ],
)
def test_bad_ray_options_are_errors_naming_them(tmp_path, capsys, options, said):
    out = tmp_path / "out"
    assert main(["label", str(tmp_path), "-o", str(out), "--ray", *options]) == 2
    assert said in capsys.readouterr().err
    assert not out.exists()


def test_a_local_ray_started_by_the_command_runs_the_pympas_it_imported_and_ends_with_it(
    tmp_path,
):
    """The command imports pympas from a folder that is on no path its workers would inherit
    (no PYTHONPATH, another working directory): they import the same one, and the Ray
    instance ends with the command."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'pympas[ray]')")
    import pympas

    root = str(Path(pympas.__file__).resolve().parent.parent)
    write_video(tmp_path / "walk.avi", moving_blobs(21, seed=1))
    code = (
        f"import sys; sys.path.insert(0, {root!r}); from pympas.cli import main; "
        f"sys.exit(main(['label', 'walk.avi', '-o', 'out', '-q', '--ray']))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, start_new_session=True,
                            env={**env, "OMP_NUM_THREADS": "1"})  # fmt: skip
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "1 labelled, 0 skipped (already complete), 0 failed" in out
    assert wait_for(lambda: not in_session(proc.pid), 30), in_session(proc.pid)  # no Ray left


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_no_cluster_answers_is_one_error_line(tmp_path, capsys, scheme):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'pympas[ray]')")
    import socket

    with socket.socket() as sock:  # a port nothing listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"{scheme}127.0.0.1:{port}"
    assert main(["label", str(tmp_path), "-o", str(tmp_path / "out"), "--ray", address]) == 2
    assert capsys.readouterr().err == (
        f"pympas label: error: --ray {address}: no Ray cluster answers there (Connection refused)\n"
    )
