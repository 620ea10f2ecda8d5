"""The ``adain-nst`` command: the root parser, the table of commands and the exit statuses.

Each command is a module with ``add_parser(subparsers) -> ArgumentParser`` and
``run(args) -> int``. Exit statuses (``../shared/docs/conventions.md``): 0 all done; 2 a user
error, nothing done (one ``error: ...`` line on stderr, no traceback; argparse's own usage
errors are 2 too); 3 a folder job ran but some inputs failed; 130 interrupted (Ctrl-C), 143
terminated (SIGTERM); neither leaves a temporary or partial file.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, NamedTuple, TextIO

from .._version import __version__
from . import bench, demo, download, export_onnx, gatys, models, serve, stylize, stylize_dataset, train, video
from ._options import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USER_ERROR,
    USER_ERRORS,
    add_threads_option,
    one_line,
    set_threads,
)


class Command(NamedTuple):
    """How a command declares its options and how it runs (returns the exit status)."""

    add_parser: Callable[[Any], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "stylize": Command(stylize.add_parser, stylize.run),
    "stylize-dataset": Command(stylize_dataset.add_parser, stylize_dataset.run),
    "demo": Command(demo.add_parser, demo.run),
    "gatys": Command(gatys.add_parser, gatys.run),
    "train": Command(train.add_parser, train.run),
    "models": Command(models.add_parser, models.run),
    "download": Command(download.add_parser, download.run),
    "bench": Command(bench.add_parser, bench.run),
    "serve": Command(serve.add_parser, serve.run),
    "video": Command(video.add_parser, video.run),
    "export-onnx": Command(export_onnx.add_parser, export_onnx.run),
}


def build_parser() -> argparse.ArgumentParser:
    """The root parser with every command of :data:`COMMANDS` as a subcommand."""
    parser = argparse.ArgumentParser(prog="adain-nst", description="Arbitrary style transfer (AdaIN) and Gatys.")
    parser.add_argument("--version", action="version", version=f"adain-nst {__version__}")
    # Its own dest: a subcommand's defaults would overwrite a shared one (argparse copies them over).
    add_threads_option(parser, dest="root_threads")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        add_threads_option(command.add_parser(sub))
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: temporary files are removed."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (the default action kills at once, leaving temp files)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Show a library notice as one ``warning: ...`` line on stderr (no source line, no location)."""
    print(f"warning: {one_line(message)}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``adain-nst`` console script; returns the exit status.

    Usage errors exit through argparse (``SystemExit(2)``); ``--help``/``--version`` with 0.
    Ctrl-C returns 130 and SIGTERM 143, each after removing any temporary file; notices
    (``warnings``) print as one ``warning: ...`` line.
    """
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None) is None:
        args.threads = args.root_threads  # the command's --threads wins over the root's
    with warnings.catch_warnings(), _terminate_as_interrupt():
        warnings.showwarning = _warning_line
        try:
            set_threads(args.threads)
            return COMMANDS[args.command].run(args)
        except USER_ERRORS as exc:
            # Users see what went wrong and where, not a stack trace from deep inside torch.
            print(f"error: {one_line(exc)}", file=sys.stderr)
            return EXIT_USER_ERROR
        except Terminated:
            print("terminated", file=sys.stderr)
            return EXIT_TERMINATED
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


__all__ = ["COMMANDS", "Command", "Terminated", "build_parser", "main"]
