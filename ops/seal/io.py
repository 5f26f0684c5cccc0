"""Reading manifests and writing files atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ops.seal.errors import SealError
from ops.seal.manifest import dump, is_sealed_secret


def write_atomic(path: Path, data: str, mode: int = 0o644) -> None:
    """Replace ``path`` in one rename so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_docs(text: str, where: str) -> list[Any]:
    """All YAML documents of a file (empty documents dropped)."""
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise SealError(f"{where}{line}: not valid YAML") from None


def load_one_sealed_secret(path: str) -> dict[str, Any]:
    """The single SealedSecret in ``path`` (error when there are none or several)."""
    file = Path(path)
    if not file.is_file():
        raise SealError(f"{path}: no such file")
    docs = [d for d in load_docs(file.read_text(encoding="utf-8"), path) if is_sealed_secret(d)]
    if len(docs) != 1:
        raise SealError(f"{path}: expected exactly one SealedSecret, found {len(docs)}")
    return docs[0]


def replace_ciphertexts(text: str, replacements: dict[str, str], docs: list[Any]) -> str:
    """Swap ciphertexts in the original text (keeps comments/order); re-dump when that is ambiguous."""
    if all(text.count(old) == 1 for old in replacements):
        for old, new in replacements.items():
            text = text.replace(old, new)
        return text
    if "{{" in text:
        raise SealError("ciphertext not found verbatim in a templated file; reseal it by hand")
    for doc in docs:
        if is_sealed_secret(doc):
            enc = doc["spec"]["encryptedData"]
            for key, value in enc.items():
                enc[key] = replacements.get(str(value), value)
    return "".join(dump(doc) for doc in docs)
