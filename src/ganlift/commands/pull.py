"""``ganlift pull REPO_ID --out DIR``: download a lifter from the Hub into a local folder."""

from __future__ import annotations

import argparse

HELP = "download a lifter from a Hub model repo into a folder (only the lifter's files, verified)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo_id", metavar="REPO_ID", help="Hub model repo, 'owner/name'")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write the lifter to")
    parser.add_argument("--revision", default=None, metavar="REV", help="branch, tag or commit (default main)")
    parser.add_argument("--cache-dir", default=None, metavar="DIR", help="Hugging Face cache folder")
    parser.add_argument("--force-download", action="store_true", help="download again even when cached")
    parser.add_argument("--token", default=None, help="Hub token for private repos")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace another lifter already saved in DIR (refused otherwise)")


def run(args: argparse.Namespace) -> int:
    from ganlift.hub import pull

    out = pull(args.repo_id, args.out, revision=args.revision, cache_dir=args.cache_dir, token=args.token,
               force_download=args.force_download, overwrite=args.overwrite)
    files = ", ".join(sorted(p.name for p in out.iterdir() if p.is_file()))
    print(f"pulled {args.repo_id} into {out} ({files})")
    print(f"load it with ganlift.Lifter.from_pretrained({str(out)!r})")
    return 0
