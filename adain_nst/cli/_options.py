"""Options several commands share: model source, device, threads, number lists, input paths.

Each ``add_*`` declares options on a parser; the matching helper turns the parsed values into
what the library takes. Problems a user can fix raise :class:`~adain_nst.errors.InputError`
(exit status 2 in :func:`adain_nst.cli.main`).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import torch
from PIL import Image

from ..api import Model, get_model, model_from_files
from ..errors import AdainNSTError, InputError, one_line
from ..image import list_images

T = TypeVar("T")

# Exit statuses of every command (docs: ../shared/docs/conventions.md, "Exit codes").
EXIT_OK = 0
EXIT_USER_ERROR = 2  # a bad option or input; nothing was done
EXIT_SOME_FAILED = 3  # a folder job ran, but some inputs failed (each named on stderr)
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + 15), as a shell reports a process it killed
# Errors a user can fix: bad options, missing or unreadable files, unavailable devices or weights.
USER_ERRORS = (AdainNSTError, OSError, ValueError)


# -- argparse types ---------------------------------------------------------------------------------
def number_list(cast: Callable[[str], T], kind: str) -> Callable[[str], list[T]]:
    """An argparse ``type`` for lists such as ``0.3,0.7`` (commas or spaces) of ``cast`` values."""

    def parse(text: str) -> list[T]:
        try:
            return [cast(x) for x in text.replace(",", " ").split()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind} separated by commas, got {text!r}") from None

    return parse


floats = number_list(float, "numbers")
ints = number_list(int, "integers")


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


# -- threads ------------------------------------------------------------------------------------------
def add_threads_option(p: argparse.ArgumentParser, dest: str = "threads") -> None:
    """``--threads N`` (torch CPU threads); a parser that already has one keeps its own."""
    with contextlib.suppress(argparse.ArgumentError):  # the command declares --threads itself (bench)
        p.add_argument(
            "--threads",
            type=positive_int,
            dest=dest,
            default=None,
            metavar="N",
            help="torch CPU threads (default: torch's choice)",
        )


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)``; ``None`` leaves torch's choice."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"--threads must be an integer >= 1, got {threads!r}")
    torch.set_num_threads(threads)


# -- model source -------------------------------------------------------------------------------------
def add_device_option(p: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--device``: cpu, cuda, cuda:N, mps or auto (checked before anything loads)."""
    shown = default or "cpu"
    p.add_argument("--device", default=default, help=f"cpu, cuda, cuda:1, mps or auto (default: {shown})")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """``--model`` or ``--encoder``/``--decoder``, and ``--device``."""
    p.add_argument(
        "--model", help="model family or registered model name, Hub repo id or local folder (default: the cd16x family)"
    )
    p.add_argument("--encoder", help="encoder checkpoint file (pytorch-AdaIN, cd16x or ours); use with --decoder")
    p.add_argument("--decoder", help="decoder checkpoint file; use with --encoder")
    p.add_argument(
        "--no-pairing-check",
        action="store_true",
        help="load --encoder/--decoder even when they do not look like a pair (e.g. cd16x e5 with d4)",
    )
    add_device_option(p)


def check_model_args(args: argparse.Namespace) -> None:
    """Refuse an incomplete or ambiguous model choice (before anything is loaded)."""
    if bool(args.encoder) != bool(args.decoder):
        raise InputError("--encoder and --decoder must be given together")
    if args.encoder and args.model:
        raise InputError("give either --model or --encoder/--decoder, not both")
    if getattr(args, "no_pairing_check", False) and not args.encoder:
        raise InputError("--no-pairing-check applies to --encoder/--decoder only")


def load_model(args: argparse.Namespace, device: torch.device) -> Model:
    """The model the options name, on ``device`` (a registered/Hub model is cached per process)."""
    check_model_args(args)
    if args.encoder:
        check = not getattr(args, "no_pairing_check", False)
        return model_from_files(args.encoder, args.decoder, device=device, check_pairing=check)
    return get_model(args.model, device=device)


# -- paths ----------------------------------------------------------------------------------------------
def expand_paths(paths: Sequence[str], what: str) -> tuple[list[Path], bool]:
    """Files named directly, plus the images inside any directory; flag: a directory was given.

    ``what`` (``"content"``, ``"style"``) names the images in the message of an empty folder.
    """
    files: list[Path] = []
    had_dir = False
    for p in map(Path, paths):
        if p.is_dir():
            had_dir = True
            files += list_images(p, what=what)
        else:
            files.append(p)
    return files, had_dir


def require_files(paths: Iterable[Path]) -> None:
    """Refuse a missing input image now, before the (slow) model load."""
    for f in paths:
        if not f.is_file():
            raise InputError(f"image file not found: {f}")


def check_image_suffix(path: Path | str, what: str = "output") -> Path:
    """``path`` if Pillow can write its suffix (``.png``, ``.jpg`` ...), else :class:`InputError`."""
    p = Path(path)
    if p.suffix.lower() not in Image.registered_extensions():
        raise InputError(f"unknown image format for {what} {p} (use a suffix such as .png or .jpg)")
    return p


__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_TERMINATED",
    "EXIT_USER_ERROR",
    "USER_ERRORS",
    "add_device_option",
    "add_model_options",
    "add_threads_option",
    "check_image_suffix",
    "check_model_args",
    "expand_paths",
    "floats",
    "ints",
    "load_model",
    "number_list",
    "one_line",
    "positive_int",
    "require_files",
    "set_threads",
]
