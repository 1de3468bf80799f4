"""mkdocs hook: fill the command-line reference from the real ``ganlift`` argument parsers.

``docs/cli.md`` marks where each command's ``--help`` goes with ``<!-- ganlift-help: NAME -->``
(an empty NAME is ``ganlift --help``). The build replaces every mark with the current help
text, so the page cannot drift from the code, and it warns (which fails ``mkdocs build
--strict``) when a command has no mark or a mark names no command.
"""

from __future__ import annotations

import os
import re

from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger(__name__)

PAGE = "cli.md"
MARK = re.compile(r"<!-- ganlift-help: ?([\w-]*) -->")
WIDTH = "96"  # argparse wraps help text to $COLUMNS


def help_texts() -> dict[str, str]:
    """``{"": ganlift --help, name: ganlift name --help}`` for every subcommand."""
    import argparse

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        from ganlift.cli import build_parser

        parser = build_parser()
        texts = {"": parser.format_help()}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    texts[name] = sub.format_help()
        return texts
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    texts = help_texts()
    marked = set(MARK.findall(markdown))
    for name in sorted(set(texts) - marked):
        log.warning(f"{PAGE}: the command 'ganlift {name}' has no <!-- ganlift-help: {name} --> section")
    for name in sorted(marked - set(texts)):
        log.warning(f"{PAGE}: <!-- ganlift-help: {name} --> names no ganlift command")

    def fill(match: re.Match) -> str:
        text = texts.get(match.group(1))
        if text is None:
            return match.group(0)
        return "```text\n" + text.rstrip() + "\n```"

    return MARK.sub(fill, markdown)
