"""``python -m ops.rotate``: rotate an IAM user's access key into the repository's SealedSecrets.

Exit codes: 0 done (or waiting for the next phase), 1 a step failed (the message says what remains and
how to resume), 2 bad input or a refused precondition (nothing was changed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from ops.rotate.aws import Iam
from ops.rotate.consumers import KubectlConsumers
from ops.rotate.errors import RotateError, StepFailed
from ops.rotate.rotation import Options, Rotation
from ops.rotate.state import STATE_DIR_ENV, StateStore, default_state_dir, legacy_state_file
from ops.rotate.targets import DEFAULT_TARGETS
from ops.seal.errors import SealError


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the rotation tool."""
    parser = argparse.ArgumentParser(prog="rotate-aws-credentials", description=__doc__.splitlines()[0])
    parser.add_argument("--user", required=True, help="IAM user whose access key is rotated")
    parser.add_argument("--root", default=".", help="repository root (default: current directory)")
    parser.add_argument("--targets", help=f"targets file (default: <root>/{DEFAULT_TARGETS})")
    parser.add_argument(
        "--state-dir",
        help=f"where progress is kept (default: ${STATE_DIR_ENV}, else ~/.local/state/gitops-mlops/rotate)",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--resume", action="store_true", help="continue a rotation from its saved phase")
    action.add_argument("--finalize", action="store_true", help="delete the (inactive) old key now")
    action.add_argument("--status", action="store_true", help="show the saved phase and the user's keys")
    parser.add_argument("--dry-run", action="store_true", help="check everything, change nothing")
    parser.add_argument("--commit-branch", help="commit the updated files on this new branch (for a PR)")
    parser.add_argument(
        "--deactivate-now", action="store_true", help="do not wait for IAM to report the new key used"
    )
    parser.add_argument(
        "--kubectl", default="kubectl", help="kubectl binary for the consumer check (default: kubectl)"
    )
    parser.add_argument(
        "--skip-consumer-check",
        action="store_true",
        help="break glass (old key leaked): deactivate without checking that the consumers restarted",
    )
    parser.add_argument(
        "--wait-for-use", type=float, default=0.0, metavar="SECONDS", help="poll IAM last-used"
    )
    parser.add_argument("--grace-hours", type=float, default=24.0, help="keep the inactive old key this long")
    parser.add_argument("--verify-timeout", type=float, default=120.0, metavar="SECONDS", help="STS retries")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; one line on stderr for every error, never a traceback or a secret."""
    args = build_parser().parse_args(argv)
    root = Path(args.root).resolve()
    try:
        if not root.is_dir():
            raise RotateError(f"--root {args.root}: not a directory")
        if args.grace_hours < 0 or args.wait_for_use < 0 or args.verify_timeout <= 0:
            raise RotateError("--grace-hours/--wait-for-use must be >= 0 and --verify-timeout > 0")
        opts = Options(
            user=args.user,
            root=root,
            targets=Path(args.targets) if args.targets else root / DEFAULT_TARGETS,
            dry_run=args.dry_run,
            commit_branch=args.commit_branch,
            deactivate_now=args.deactivate_now,
            skip_consumer_check=args.skip_consumer_check,
            wait_for_use_s=args.wait_for_use,
            grace=dt.timedelta(hours=args.grace_hours),
            verify_timeout_s=args.verify_timeout,
        )
        store = StateStore(Path(args.state_dir) if args.state_dir else default_state_dir())
        legacy = legacy_state_file(root, args.user)
        if not args.state_dir and store.load(args.user) is None and legacy.is_file():
            raise RotateError(
                f"a rotation of {args.user} is recorded in {legacy}, where earlier versions kept it: move "
                f"it to {store.directory}/ (or pass --state-dir {legacy.parent}) before going on"
            )
        consumers = KubectlConsumers(args.kubectl)
        rotation = Rotation(opts, Iam(args.user), store, consumers, out=lambda line: print(line, flush=True))
        if args.resume:
            rotation.resume()
        elif args.finalize:
            rotation.finalize()
        elif args.status:
            rotation.status()
        else:
            rotation.rotate()
    except (RotateError, SealError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StepFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0
