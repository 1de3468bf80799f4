"""``ganlift demo``: serve a lifter's interactive page in the browser, or write a Space folder."""

from __future__ import annotations

import argparse

from ganlift.commands._controls import add_lifter_arguments

HELP = "serve an interactive browser demo of a lifter (Gradio), or write a Hugging Face Space folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifter_arguments(parser, seed=False, title="lifter")  # the page picks seeds itself
    s = parser.add_argument_group("serving")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)")
    s.add_argument("--port", type=int, default=None, metavar="N",
                   help="port (default: 7860, or the next free one)")
    s.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    p = parser.add_argument_group("Space folder (instead of serving)")
    p.add_argument("--space", default=None, metavar="OUT",
                   help="write a ready-to-push Hugging Face Space (app.py, requirements.txt, README.md) "
                   "for the Hub lifter repo --lifter into OUT, then stop")
    p.add_argument("--title", default=None, help="with --space: the Space's title")
    p.add_argument("--requirement", default=None, metavar="SPEC",
                   help="with --space: the ganlift line of requirements.txt "
                   "(default ganlift[demo]==this version)")


def run(args: argparse.Namespace) -> int:
    if args.space is not None:
        from ganlift.demo import write_space

        written = write_space(args.space, args.lifter, revision=args.revision, title=args.title,
                              requirement=args.requirement)  # fmt: skip
        print("wrote " + ", ".join(str(p) for p in written))
        print(f"push it yourself, e.g.: hf upload --repo-type space OWNER/SPACE {args.space} .")
        return 0
    if args.port is not None and not 0 < args.port < 65536:
        raise ValueError(f"--port must be within 1..65535, got {args.port}")
    try:
        from ganlift.demo import _gradio

        _gradio()
    except ImportError as err:
        raise RuntimeError(str(err)) from None

    from ganlift.commands._controls import load_lifter
    from ganlift.demo import launch

    lifter = load_lifter(args)
    print(f"serving the demo of {args.lifter} (Ctrl-C stops it)")
    launch(lifter, host=args.host, port=args.port, share=args.share, block=True)
    return 0
