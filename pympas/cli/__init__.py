"""The ``pympas`` command: one sub-command per stage of the pipeline.

Each sub-command lives in its own module of this package, which provides
``register(subparsers)`` and a ``run(args)`` that calls the library; options take their
defaults from the library's signatures (:func:`pympas.cli._common.default`). Every command runs
through :func:`pympas.cli._common.run_command`: one clean stop on Ctrl-C or SIGTERM (exit 130 or
143, one line, nothing half-written) and one error line naming the file an output could not be
written to. The library
itself is imported only when a command runs, so ``pympas --help`` stays fast and light.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pympas._version import __version__

# name -> module providing register(subparsers); order is the order shown in --help.
SUBCOMMANDS: dict[str, str] = {
    "example": "pympas.cli.example",
    "synth": "pympas.cli.synth",
    "label": "pympas.cli.label",
    "train": "pympas.cli.train",
    "segment": "pympas.cli.segment",
    "export": "pympas.cli.export",
    "evaluate": "pympas.cli.evaluate",
    "demo": "pympas.cli.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pympas",
        description="Unsupervised crowd segmentation in surveillance video (MPASNet).",
    )
    parser.add_argument("--version", action="version", version=f"pympas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS.values():
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from pympas.cli._common import run_command

    return run_command(args.command, args.func, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
