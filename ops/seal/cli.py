"""``python -m ops.seal``: seal, verify, unseal, fingerprint and reseal-all SealedSecrets.

Secret values are read from files or stdin, never from argv, and are never printed.
Exit codes: 0 ok, 1 an operation failed (e.g. a file did not reseal), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from ops.seal import keygen, kubeseal
from ops.seal.errors import DecryptError, SealError
from ops.seal.io import load_one_sealed_secret, write_atomic
from ops.seal.keys import PrivateKey, fingerprint, load_private_keys, load_public_key, parse_public_key
from ops.seal.manifest import dump, new_sealed_secret, seal_into, secret_manifest, unseal, validate_name
from ops.seal.scheme import Scope
from ops.seal.sources import parse_env_file, read_env_file, read_from_files


def _controller(args: argparse.Namespace) -> kubeseal.Controller:
    return kubeseal.Controller(args.controller_namespace, args.controller_name)


def _public_key(args: argparse.Namespace) -> rsa.RSAPublicKey:
    if args.cert:
        return load_public_key(args.cert)
    cert = kubeseal.fetch_cert(_controller(args))
    if cert is None:
        raise SealError("--cert is required (kubeseal is not installed or no controller is reachable)")
    return parse_public_key(cert, "kubeseal --fetch-cert")


def _private_keys(paths: Sequence[str]) -> list[PrivateKey]:
    if not paths:
        raise SealError("--private-key is required (PEM file or the controller's key backup YAML)")
    keys: list[PrivateKey] = []
    for path in paths:
        keys.extend(load_private_keys(path))
    return keys


def _values(args: argparse.Namespace) -> dict[str, bytes]:
    if args.from_file and args.from_env_file:
        raise SealError("use either --from-file or --from-env-file, not both")
    if args.from_file:
        return read_from_files(args.from_file)
    if args.from_env_file:
        return read_env_file(args.from_env_file)
    if sys.stdin.isatty():
        raise SealError("no values: give --from-file KEY=PATH, --from-env-file PATH or an env-file on stdin")
    return parse_env_file(sys.stdin.read(), "stdin")


def _emit(text: str, output: str) -> None:
    if output == "-":
        sys.stdout.write(text)
    else:
        write_atomic(Path(output), text)


def cmd_seal(args: argparse.Namespace) -> int:
    """Seal values into a new SealedSecret, or merge them into an existing one."""
    values = _values(args)
    public_key = _public_key(args)
    if args.merge_into:
        doc = load_one_sealed_secret(args.merge_into)
        output = args.output or args.merge_into
    else:
        if not args.namespace and args.scope != Scope.CLUSTER_WIDE:
            raise SealError("--namespace is required for strict and namespace-wide scope")
        if not args.name:
            raise SealError("--name is required")
        doc = new_sealed_secret(args.namespace or "", args.name, Scope.parse(args.scope), args.type)
        output = args.output or "-"
    seal_into(doc, public_key, values)
    _emit(dump(doc), output)
    if output != "-":
        print(f"sealed {len(values)} key(s) into {output} with {fingerprint(public_key)}", file=sys.stderr)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check that every value opens with the given private keys; prints key names only."""
    keys = _private_keys(args.private_key)
    failed = 0
    for path in args.files:
        doc = load_one_sealed_secret(path)
        try:
            values = unseal(doc, [k.key for k in keys])
            print(f"{path}: ok ({', '.join(sorted(values)) or 'no keys'})")
        except (DecryptError, SealError) as exc:
            failed += 1
            print(f"{path}: FAILED {exc}")
    return 1 if failed else 0


def cmd_unseal(args: argparse.Namespace) -> int:
    """Write the plain Secret the controller would create to a file (mode 0600); never to the terminal."""
    if args.output == "-":
        raise SealError("-o -: refusing to print a plain Secret; give a file path")
    keys = _private_keys(args.private_key)
    doc = load_one_sealed_secret(args.file)
    try:
        values = unseal(doc, [k.key for k in keys])
    except DecryptError as exc:
        print(f"{args.file}: cannot unseal: {exc}", file=sys.stderr)
        return 1
    write_atomic(Path(args.output), dump(secret_manifest(doc, values)), mode=0o600)
    print(f"wrote plain Secret with {len(values)} key(s) to {args.output} (mode 0600)", file=sys.stderr)
    return 0


def cmd_fingerprint(args: argparse.Namespace) -> int:
    """Print the SSH-style SHA256 fingerprint of a certificate (to compare with the controller's)."""
    print(fingerprint(load_public_key(args.cert)))
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """Create a sealing key pair: a key Secret manifest (mode 0600) and the public certificate."""
    if args.bits < 2048:
        raise SealError("--bits must be at least 2048")
    validate_name("name", args.name)
    validate_name("namespace", args.controller_namespace)
    key, cert = keygen.generate(bits=args.bits)
    secret = keygen.key_secret(key, cert, args.name, args.controller_namespace)
    write_atomic(Path(args.key_out), dump(secret), mode=0o600)
    write_atomic(Path(args.cert_out), keygen.cert_pem(cert).decode())
    print(f"wrote {args.key_out} (keep it secret) and {args.cert_out}: {fingerprint(cert.public_key())}")
    return 0


def _add_controller(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--controller-namespace", default="kube-system", help="sealed-secrets controller ns")
    parser.add_argument("--controller-name", default="sealed-secrets-controller", help="controller service")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all sub-commands."""
    from ops.seal.reseal_cli import add_reseal_parser

    parser = argparse.ArgumentParser(prog="python -m ops.seal", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    seal = sub.add_parser("seal", help="seal values into a SealedSecret manifest")
    seal.add_argument("--cert", help="controller certificate: file or http(s) URL (default: kubeseal)")
    seal.add_argument("--namespace", help="namespace of the Secret")
    seal.add_argument("--name", help="name of the Secret")
    seal.add_argument("--scope", default="strict", choices=[s.value for s in Scope])
    seal.add_argument("--type", default="Opaque", help="Secret type (default Opaque)")
    seal.add_argument("--from-file", action="append", metavar="KEY=PATH", help="value from a file")
    seal.add_argument("--from-env-file", metavar="PATH", help="KEY=VALUE lines")
    seal.add_argument("--merge-into", metavar="FILE", help="add/replace keys in an existing SealedSecret")
    seal.add_argument("-o", "--output", help="output file ('-' for stdout; default stdout or --merge-into)")
    _add_controller(seal)
    seal.set_defaults(func=cmd_seal)

    verify = sub.add_parser("verify", help="check SealedSecrets open with the given private keys")
    verify.add_argument("--private-key", action="append", default=[], help="PEM key or key backup YAML")
    verify.add_argument("files", nargs="+")
    verify.set_defaults(func=cmd_verify)

    uns = sub.add_parser("unseal", help="decrypt a SealedSecret into a plain Secret file (mode 0600)")
    uns.add_argument("--private-key", action="append", default=[], help="PEM key or key backup YAML")
    uns.add_argument("-o", "--output", required=True, help="file for the plain Secret (not stdout)")
    uns.add_argument("file")
    uns.set_defaults(func=cmd_unseal)

    fp = sub.add_parser("fingerprint", help="fingerprint of a sealing certificate")
    fp.add_argument("--cert", required=True)
    fp.set_defaults(func=cmd_fingerprint)

    kg = sub.add_parser("keygen", help="create a sealing key pair (bring-your-own-key, disaster recovery)")
    kg.add_argument("--bits", type=int, default=keygen.DEFAULT_BITS)
    kg.add_argument("--name", default="sealed-secrets-key-byo", help="name of the key Secret")
    kg.add_argument("--controller-namespace", default="kube-system")
    kg.add_argument("--key-out", required=True, help="key Secret manifest (mode 0600; never commit it)")
    kg.add_argument("--cert-out", required=True, help="public certificate PEM (safe to commit)")
    kg.set_defaults(func=cmd_keygen)

    add_reseal_parser(sub, _add_controller)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input exits 2 with one line naming what to fix."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SealError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
