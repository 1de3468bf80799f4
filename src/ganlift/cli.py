"""The ``ganlift`` command. Each subcommand lives in its own module of ``ganlift.commands``.

A command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``
returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pickle
import pkgutil
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator

from ganlift import __version__, commands


def _command_modules() -> dict:
    found = {}
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"ganlift.commands.{info.name}")
        found[getattr(module, "NAME", info.name)] = module
    return found


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ganlift", description="Lift pretrained 2D GANs into 3D (LiftedGAN)."
    )
    parser.add_argument("--version", action="version", version=f"ganlift {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules().items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (which tests and notebooks swap)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _show_library_warnings() -> None:
    """The library logs (``logging.getLogger("ganlift")``) and never prints: show its
    warnings (e.g. "interrupted at step N; checkpoint saved") on stderr, once."""
    logger = logging.getLogger("ganlift")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("ganlift: %(message)s"))
        logger.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ganlift`` console script."""
    _show_library_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        with _one_line_warnings(args.command):
            return int(args._run(args) or 0)
    except KeyboardInterrupt as err:
        signum = getattr(err, "signum", None)  # SIGTERM arrives as training.signals.Terminated
        print("terminated" if signum else "interrupted", file=sys.stderr)
        return 128 + signum if signum else 130
    except USER_ERRORS as err:
        if isinstance(err, ImportError) and "pip install" not in str(err):
            raise  # a broken installation, not a user error: keep the traceback
        print(f"ganlift {args.command}: error: {user_message(err)}", file=sys.stderr)
        return 1


# What a user's input can cause: bad arguments, files and values. Anything else is a bug and
# keeps its traceback.
USER_ERRORS = (KeyError, ValueError, OSError, RuntimeError, pickle.UnpicklingError, ImportError)


def user_message(err: BaseException) -> str:
    """One line for a user error: the message, the file for OSErrors, no torch advice."""
    if isinstance(err, KeyError):
        key = err.args[0] if err.args else ""
        text = str(key)
        if text and " " not in text:  # a bare key: say what it is
            text = f"missing key {text!r} (a required entry is absent from the file or option)"
    elif isinstance(err, OSError) and err.strerror:
        text = err.strerror
        if err.filename is not None and str(err.filename) not in text:
            text = f"{err.filename}: {text}"
    else:
        text = str(err) or type(err).__name__
    if "weights_only" in text:  # torch's refusal text advises weights_only=False: never pass it on
        from ganlift.utils.tensors import describe_load_error

        text = f"a file could not be loaded safely: {describe_load_error(err)}"
    return " ".join(text.split())


@contextmanager
def _one_line_warnings(command: str) -> Iterator[None]:
    """Show ``warnings.warn`` messages as ``ganlift CMD: warning: ...`` lines."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"ganlift {command}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


if __name__ == "__main__":
    sys.exit(main())
