"""`python -m observability.dashboards [--check] [--out DIR]`: write the dashboards' JSON, or check that
the committed files are what the code builds (exit 1 naming the stale files and the command to fix them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from observability.dashboards import OUTPUT_DIR, render_all

FIX = "python -m observability.dashboards"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=FIX, description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=OUTPUT_DIR, help=f"folder (default {OUTPUT_DIR})")
    args = parser.parse_args(argv)
    rendered = render_all()
    if args.check:
        stale = [
            name
            for name, text in rendered.items()
            if not (args.out / name).is_file() or (args.out / name).read_text(encoding="utf-8") != text
        ]
        if stale:
            print(
                f"dashboards: stale or missing in {args.out}: {', '.join(stale)}; run `{FIX}`",
                file=sys.stderr,
            )
            return 1
        print(f"dashboards: the {len(rendered)} files in {args.out} match the code")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (args.out / name).write_text(text, encoding="utf-8")
    print(f"dashboards: wrote {', '.join(rendered)} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
