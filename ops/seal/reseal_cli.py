"""The ``reseal-all`` sub-command: choose online/offline, run, print the table, set the exit code."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ops.seal import kubeseal
from ops.seal.environments import Environment, load_environments
from ops.seal.errors import SealError
from ops.seal.io import write_atomic
from ops.seal.keys import load_private_keys, load_public_key
from ops.seal.reseal import (
    DEFAULT_EXCLUDES,
    FileOutcome,
    OfflineResealer,
    find_files,
    format_table,
    reseal_all,
    reseal_file_offline,
    reseal_file_online,
)


def _repo_root() -> Path:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return Path.cwd()
    return Path(proc.stdout.strip()) if proc.returncode == 0 else Path.cwd()


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def check_env_controller(
    root: Path, envs: dict[str, Environment], env: str, controller: kubeseal.Controller
) -> bytes | None:
    """Online reseal of ``--env`` goes only to that environment's controller: refuse when the controller
    kubeseal reaches serves another environment's certificate (the dev/prod split would collapse into
    one key). Returns the controller's certificate when it differs from the env's file (a key renewal)."""
    fetched = kubeseal.fetch_cert(controller)
    if fetched is None:
        raise SealError("--mode online: kubeseal is not installed or the controller is unreachable")
    try:
        current = _der(fetched)
        own = _der((root / envs[env].cert).read_bytes())
    except (OSError, ValueError) as exc:
        raise SealError(f"--env {env}: cannot compare certificates ({exc})") from None
    for name, other in envs.items():
        other_path = root / other.cert
        if name != env and other_path.is_file() and _der(other_path.read_bytes()) == current != own:
            where = f"context {controller.context}" if controller.context else "the current context"
            raise SealError(
                f"--env {env}: the controller reached through {where} serves the {name} certificate "
                f"({other.cert}); set 'context' of {env} in ops/seal/environments.yaml or pass --context"
            )
    return None if current == own else fetched


def cmd_reseal_all(args: argparse.Namespace) -> int:
    """Reseal every SealedSecret under --root (optionally only under the given paths)."""
    root = Path(args.root) if args.root else _repo_root()
    if not root.is_dir():
        raise SealError(f"--root {root}: not a directory")
    envs = load_environments(root) if args.env else {}
    if args.env:
        if args.env not in envs:
            raise SealError(
                f"--env {args.env}: not one of {', '.join(sorted(envs))} (ops/seal/environments.yaml)"
            )
        env = envs[args.env]
        args.cert = args.cert or str(root / env.cert)
        args.paths = args.paths or list(env.paths)
    context = args.context or (envs[args.env].context if args.env else "")
    controller = kubeseal.Controller(args.controller_namespace, args.controller_name, context)
    mode = args.mode
    if mode == "auto":
        mode = "offline" if args.private_key else ("online" if kubeseal.online_available(controller) else "")
        if not mode:
            raise SealError(
                "no controller reachable through kubeseal: give --private-key (key backup) and --cert "
                "for the offline path"
            )
    if mode == "online":
        if not kubeseal.online_available(controller):
            raise SealError("--mode online: kubeseal is not installed or the controller is unreachable")
        renewed_cert = check_env_controller(root, envs, args.env, controller) if args.env else None
        reseal_one: Callable[[Path, str], FileOutcome] = partial(reseal_file_online, controller=controller)
    else:
        if not args.cert or not args.private_key:
            raise SealError(
                "--mode offline needs --cert (the new certificate) and --private-key (key backup)"
            )
        keys = [k for path in args.private_key for k in load_private_keys(path)]
        resealer = OfflineResealer(load_public_key(args.cert), keys)
        reseal_one = partial(reseal_file_offline, resealer=resealer)
    for path in args.paths:
        if not (root / path).exists():
            raise SealError(f"{path}: no such file or directory under {root}")
    excludes = args.exclude if args.exclude is not None else list(DEFAULT_EXCLUDES)
    files = find_files(root, args.paths, excludes)
    if not files:
        print(f"no SealedSecret found under {root}")
        return 0
    rows = reseal_all(root, files, reseal_one, dry_run=args.dry_run)
    print(format_table(rows))
    failed = sum(1 for r in rows if not r.ok)
    if mode == "online" and args.env and renewed_cert and not failed and not args.dry_run:
        cert_path = root / envs[args.env].cert
        write_atomic(cert_path, renewed_cert.decode())
        print(f"the {args.env} controller renewed its key: its certificate is now {envs[args.env].cert}")
    print(
        f"\n{len(rows)} SealedSecret(s), {failed} failed, mode {mode}{' (dry run)' if args.dry_run else ''}"
    )
    return 1 if failed else 0


def add_reseal_parser(
    sub: argparse._SubParsersAction, add_controller: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register ``reseal-all`` on the top-level parser."""
    parser = sub.add_parser("reseal-all", help="re-encrypt every SealedSecret for the current certificate")
    parser.add_argument("paths", nargs="*", help="limit to these files/directories (relative to --root)")
    parser.add_argument("--root", help="repository root (default: git top level or cwd)")
    parser.add_argument("--env", help="environment of ops/seal/environments.yaml: its cert and paths")
    parser.add_argument("--mode", choices=["auto", "online", "offline"], default="auto")
    parser.add_argument("--context", help="online: kubeconfig context (default: the --env's, else current)")
    parser.add_argument("--cert", help="offline: the controller's new certificate (file or URL)")
    parser.add_argument("--private-key", action="append", default=[], help="offline: key backup or PEM")
    parser.add_argument(
        "--exclude", action="append", help=f"glob of paths to skip (default {DEFAULT_EXCLUDES})"
    )
    parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    add_controller(parser)
    parser.set_defaults(func=cmd_reseal_all)
