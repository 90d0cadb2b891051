"""The installed package imports from anywhere and its built-in example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pympas

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_version_prints_from_outside_the_source_tree(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "import pympas; print(pympas.__version__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    version_file = (REPO_ROOT / "pympas" / "_version.py").read_text()
    expected = re.search(r'__version__ = "([^"]+)"', version_file).group(1)
    assert out.stdout.strip() == expected == pympas.__version__


def test_example_command_keeps_walking_groups_and_drops_clutter(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pympas", "example"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"OMP_NUM_THREADS": "1", "PATH": ""},
    ).stdout
    kept = re.search(r"kept by collective merging: ([\d.]+)% of walkers, ([\d.]+)% of clutter", out)
    assert kept, out
    walkers, clutter = map(float, kept.groups())
    assert walkers > 90.0 and clutter < 40.0
    phi = re.search(r"mean phi: walking ([\d.]+), clutter ([\d.]+)", out)
    assert float(phi.group(1)) > 2 * float(phi.group(2))
