"""``ganlift push DIR REPO_ID``: upload a saved lifter folder to a Hugging Face Hub model repo."""

from __future__ import annotations

import argparse

HELP = "upload a saved lifter folder (model.safetensors, config.json, card) to a Hub model repo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", help="folder written by save_pretrained or `ganlift lift`")
    parser.add_argument("repo_id", metavar="REPO_ID", help="Hub model repo, 'owner/name' (created if missing)")
    parser.add_argument("--private", action="store_true", default=None, help="create the repo as private")
    parser.add_argument("--revision", default=None, metavar="BRANCH", help="existing branch to commit to (default main)")
    parser.add_argument("--message", default=None, metavar="TEXT", help="commit message")
    parser.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    parser.add_argument("--keep-card", action="store_true",
                        help="upload DIR/README.md as it is instead of re-rendering the model card")
    parser.add_argument("--token", default=None, help="Hub token (default: the logged-in one / HF_TOKEN)")


def run(args: argparse.Namespace) -> int:
    from ganlift.hub import push_folder

    url = push_folder(args.folder, args.repo_id, private=args.private, token=args.token,
                      revision=args.revision, commit_message=args.message, create_pr=args.create_pr,
                      regenerate_card=not args.keep_card)
    print(f"pushed {args.folder} to {args.repo_id}: {url}")
    return 0
