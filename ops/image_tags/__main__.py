"""``python -m ops.image_tags``: show, set (CI, after the images job) or promote the image tags.

  show --env ENV                 every tag of ENV, one `file:path tag` line each
  set --env ENV --tag SHA        set every tag of ENV to the commit SHA CI built
  promote --from dev --to prod   copy dev's tag to prod (open the result as a PR)
Exit 2 with a line saying what to fix on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ops.image_tags.fields import TagError, promote, set_tags, tags

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.image_tags")
    parser.add_argument("--repo", type=Path, default=REPO)
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show")
    show.add_argument("--env", required=True)
    setter = sub.add_parser("set")
    setter.add_argument("--env", required=True)
    setter.add_argument("--tag", required=True)
    prom = sub.add_parser("promote")
    prom.add_argument("--from", dest="source", required=True)
    prom.add_argument("--to", dest="target", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "show":
            for where, tag in tags(args.repo, args.env).items():
                print(f"{where} {tag}")
        elif args.command == "set":
            for path in set_tags(args.repo, args.env, args.tag):
                print(f"updated {path}")
        else:
            tag, changed = promote(args.repo, args.source, args.target)
            print(f"{args.target} now runs {tag}: {', '.join(changed) or 'already there'}")
    except TagError as error:
        print(f"image_tags: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
