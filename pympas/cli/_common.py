"""What every ``pympas`` command shares: defaults read from the library, and error exits.

The commands are thin layers over the library: an option's default is the default of the
library function (or config dataclass field) it feeds, read here, never typed again.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable
from typing import Any

#: exit code of a command stopped by Ctrl-C (128 + SIGINT)
EXIT_INTERRUPTED = 130


def default(func: Callable[..., Any], name: str) -> Any:
    """The default value of parameter ``name`` of ``func`` (a function or a dataclass)."""
    if dataclasses.is_dataclass(func):
        for f in dataclasses.fields(func):
            if f.name == name:
                if f.default is not dataclasses.MISSING:
                    return f.default
                if f.default_factory is not dataclasses.MISSING:
                    return f.default_factory()
        raise KeyError(f"{func.__name__} has no defaulted field {name!r}")
    value = inspect.signature(func).parameters[name].default
    if value is inspect.Parameter.empty:
        raise KeyError(f"{func.__name__}() has no default for {name!r}")
    return value


def fail(command: str, message: object, code: int = 1) -> int:
    """Print ``pympas COMMAND: error: MESSAGE`` to stderr and return ``code``."""
    print(f"pympas {command}: error: {message}", file=sys.stderr)
    return code
