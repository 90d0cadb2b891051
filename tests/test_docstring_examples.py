"""Every ``>>>`` example in the docstrings of the pympas package runs and prints what it shows.

Modules are found through ``import pympas`` (the installed package under CI), one test per module.
A module whose import needs an optional dependency that is not installed (torch and kornia of the
``train`` extra, jupedsim of ``synth``) or the CUDA extension of a build without nvcc is skipped,
naming it; any other import error fails.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import pympas

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# Importing these does something: ``python -m pympas`` runs the CLI.
NOT_IMPORTED = {"pympas.__main__"}
# Top-level import name -> the extra of pyproject.toml that installs it.
OPTIONAL = {"torch": "train", "kornia": "train", "jupedsim": "synth"}


def _module_names() -> list[str]:
    names = ["pympas"]
    # walk_packages imports subpackages to list their modules; one that fails to import is still
    # listed itself (onerror ignores the failure), and its test reports the error.
    for info in pkgutil.walk_packages(pympas.__path__, "pympas.", onerror=lambda name: None):
        if info.name not in NOT_IMPORTED:
            names.append(info.name)
    return sorted(names)


def _import_or_skip(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing = exc.name or ""
        top = missing.split(".")[0]
        if top in OPTIONAL:
            extra = OPTIONAL[top]
            pytest.skip(f"{name} needs {top}, not installed here (pip install 'pympas[{extra}]')")
        if missing == "pympas._cuda":
            pytest.skip(f"{name} needs pympas._cuda, which this build lacks (built without nvcc)")
        raise


def test_the_package_has_docstring_examples_to_run():
    assert {"pympas.knn", "pympas.crm", "pympas.collectiveness"} <= set(_module_names())


@pytest.mark.parametrize("name", _module_names())
def test_docstring_examples_print_what_they_show(name):
    # importlib, not getattr: pympas.collectiveness is also a function in the package namespace.
    module = _import_or_skip(name)
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    results = [runner.run(test, out=report.write) for test in tests]
    failed = sum(r.failed for r in results)
    if failed:
        attempted = sum(r.attempted for r in results)
        pytest.fail(
            f"{failed} of {attempted} docstring examples in {name} failed:\n{report.getvalue()}",
            pytrace=False,
        )
