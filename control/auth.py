"""API keys from a Secret: `name:key` pairs, several at once so a key can be rotated without downtime.

Keys in CONTROL_API_KEYS may do everything; keys in CONTROL_READ_API_KEYS may only read. A presented
key is compared with every configured key in constant time (no early exit that reveals which one)."""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

Scope = Literal["read", "write"]


@dataclass(frozen=True)
class Caller:
    """Who called: the key's name (recorded on jobs and events) and what it may do."""

    name: str
    scope: Scope


class KeyFormatError(ValueError):
    """A configured key list is malformed."""


def parse_keys(text: str, scope: Scope) -> list[tuple[str, bytes, Scope]]:
    """`name:key,name2:key2` → (name, sha256(key), scope); a bare key gets the name `key-<n>`."""
    keys = []
    for index, item in enumerate(part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, key = item.partition(":")
        if not sep:
            name, key = f"key-{index + 1}", item
        if not key or not name:
            raise KeyFormatError(f"API key entry {index + 1} is empty (expected name:key)")
        keys.append((name, hashlib.sha256(key.encode()).digest(), scope))
    return keys


class KeyRing:
    """The configured keys (only their SHA-256 kept in memory)."""

    def __init__(self, write_keys: str, read_keys: str = "") -> None:
        self._keys = parse_keys(write_keys, "write") + parse_keys(read_keys, "read")

    def __bool__(self) -> bool:
        return bool(self._keys)

    def identify(self, presented: str | None) -> Caller | None:
        """The caller for a presented key, or None."""
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode()).digest()
        found: Caller | None = None
        for name, stored, scope in self._keys:
            if hmac.compare_digest(digest, stored) and found is None:
                found = Caller(name, scope)
        return found
