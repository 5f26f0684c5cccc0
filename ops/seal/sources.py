"""Where secret values come from: files and env-files (``kubectl create secret`` semantics), never argv."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ops.seal.errors import SealError
from ops.seal.manifest import validate_key


def parse_env_file(text: str, where: str, environ: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """Parse ``KEY=VALUE`` lines like ``kubectl --from-env-file``.

    Blank lines and ``#`` comments are skipped, leading whitespace is dropped, quotes are kept literally,
    and a line with only ``KEY`` takes the value from the environment (so it never sits on argv).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, bytes] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            if key not in environ:
                raise SealError(
                    f"{where} line {number}: {key!r} has no '=' and is not set in the environment"
                )
            value = environ[key]
        try:
            validate_key(key)
        except SealError as exc:
            raise SealError(f"{where} line {number}: {exc}") from None
        if key in values:
            raise SealError(f"{where} line {number}: key {key!r} given twice")
        values[key] = value.encode()
    return values


def read_env_file(path: str) -> dict[str, bytes]:
    """Values from an env-file on disk."""
    file = Path(path)
    if not file.is_file():
        raise SealError(f"--from-env-file {path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SealError(f"--from-env-file {path}: not UTF-8 text") from None
    return parse_env_file(text, path)


def read_from_files(specs: Iterable[str]) -> dict[str, bytes]:
    """Values from ``KEY=PATH`` (or ``PATH``, key = file name) specs; file contents are used verbatim."""
    values: dict[str, bytes] = {}
    for spec in specs:
        key, sep, path = spec.partition("=")
        if not sep:
            key, path = Path(spec).name, spec
        validate_key(key)
        file = Path(path)
        if not file.is_file():
            raise SealError(f"--from-file {spec}: no such file {path}")
        if key in values:
            raise SealError(f"--from-file {spec}: key {key!r} given twice")
        values[key] = file.read_bytes()
    return values
