"""The ``ganlift`` command. Each subcommand lives in its own module of ``ganlift.commands``.

A command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``
returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ganlift`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"ganlift {args.command}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
