"""``python -m ops.certs check``: renewal policy of the cert-manager certificates in the repository.

Reads ``Certificate`` manifests (and Ingresses annotated for cert-manager's ingress-shim) from the given
files/directories (default: the repository) or ``-`` (stdin, e.g. ``helm template ... | ... check -``).
Exit codes: 0 all within policy, 1 violations, 2 bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from ops.certs.durations import format_duration, parse_go_duration
from ops.certs.policy import Finding, Policy, check_documents

SKIP_DIRS = {".git", ".venv", "node_modules", ".stack", ".tools", "build", "tests", "__pycache__"}


class InputError(Exception):
    """Bad input (exit 2)."""


def _yaml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        out += [Path(dirpath) / f for f in sorted(filenames) if f.endswith((".yaml", ".yml"))]
    return out


def _docs(text: str) -> list[object]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return []  # Helm templates and other non-YAML files cannot hold a literal manifest


def collect(paths: Sequence[str], policy: Policy) -> list[tuple[str, Finding]]:
    """(file, finding) for every certificate found."""
    results: list[tuple[str, Finding]] = []
    for raw in paths:
        if raw == "-":
            results += [("<stdin>", f) for f in check_documents(_docs(sys.stdin.read()), policy)]
            continue
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{raw}: no such file or directory")
        for file in _yaml_files(path):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if "cert-manager.io" not in text:
                continue
            results += [(str(file), f) for f in check_documents(_docs(text), policy)]
    return results


def _duration_arg(text: str) -> dt.timedelta:
    try:
        return parse_go_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Go duration (e.g. 2160h)") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m ops.certs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="report duration/renewBefore policy violations")
    check.add_argument("paths", nargs="*", default=["."], help="files/directories, or - for stdin")
    check.add_argument("--max-leaf-duration", type=_duration_arg, default=Policy.max_leaf)
    check.add_argument("--min-leaf-renew-before", type=_duration_arg, default=Policy.min_leaf_window)
    check.add_argument("--min-ca-renew-before", type=_duration_arg, default=Policy.min_ca_window)
    args = parser.parse_args(argv)
    policy = Policy(args.max_leaf_duration, args.min_leaf_renew_before, args.min_ca_renew_before)
    try:
        results = collect(args.paths, policy)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not results:
        print("no cert-manager Certificate found")
        return 0
    width = max(len(f) for f, _ in results)
    name_width = max(len(r.name) for _, r in results)
    for file, finding in results:
        if finding.ok:
            assert finding.duration is not None and finding.renew_before is not None
            life = f"{format_duration(finding.duration)}, renewBefore {format_duration(finding.renew_before)}"
            print(f"{file:<{width}}  {finding.name:<{name_width}}  ok (duration {life})")
        for violation in finding.violations:
            print(f"{file:<{width}}  {finding.name:<{name_width}}  VIOLATION {violation}")
        for warning in finding.warnings:
            print(f"{file:<{width}}  {finding.name:<{name_width}}  warning {warning}")
    failed = sum(1 for _, r in results if not r.ok)
    print(f"\n{len(results)} certificate(s), {failed} with violations")
    return 1 if failed else 0
