"""What every ``pympas`` command shares: defaults read from the library, error exits and the
one way a command stops.

The commands are thin layers over the library: an option's default is the default of the
library function (or config dataclass field) it feeds, read here, never typed again.

:func:`run_command` runs every command: SIGTERM is handled like Ctrl-C (SIGINT), and either
ends the command cleanly (writers remove their temporaries on the way out, finished outputs
are kept) with a one-line message and exit code 128 + the signal (130 for Ctrl-C, 143 for
SIGTERM); a file that cannot be written (a full disk) ends it with a one-line error naming the
file and exit code 1. No traceback either way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

#: exit code of a command stopped by Ctrl-C (128 + SIGINT)
EXIT_INTERRUPTED = 128 + signal.SIGINT


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) delivered to a command, raised like Ctrl-C's
    KeyboardInterrupt so that the same clean-up runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: the stop signals received while a command runs (native code that turns the exception of a
#: signal handler into a plain KeyboardInterrupt, such as Ray's waits, loses its signal number)
_RECEIVED: list[int] = []


def _raise_interrupted(signum: int, frame: Any) -> None:
    _RECEIVED.append(signum)
    raise Interrupted(signum)


#: signals handled like Ctrl-C
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise :class:`Interrupted` (a KeyboardInterrupt);
    the previous handlers come back afterwards. Does nothing outside the main thread."""
    previous = {}
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, _raise_interrupted)
    except ValueError:  # not the main thread: signals cannot be handled here
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_command(command: str, func: Callable[[Any], Any], args: Any) -> int:
    """Run ``func(args)`` as ``pympas COMMAND``: its exit code, 128 + signal if it was stopped
    by Ctrl-C or SIGTERM, 1 with the message if an output could not be written."""
    _RECEIVED.clear()
    with stop_signals_interrupt():
        try:
            return int(func(args) or 0)
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", _RECEIVED[-1] if _RECEIVED else signal.SIGINT)
            print(
                f"pympas {command}: interrupted ({signal.Signals(signum).name}); finished "
                "outputs are kept, nothing half-written is left",
                file=sys.stderr,
            )
            return 128 + signum
        except OSError as exc:  # an output that cannot be written: the message names the file
            return fail(command, exc)


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
