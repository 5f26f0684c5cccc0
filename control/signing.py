"""Callback signatures: `X-MLOps-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, where each v1 is
HMAC-SHA256(secret, "<t>." + body) for one signing secret (several during a rotation).

A receiver recomputes the HMAC over the raw body with its secret, compares in constant time, rejects a
timestamp outside its tolerance (a replayed request) and ignores an `X-MLOps-Event-Id` it has already
processed (deliveries are at least once). `verify` does all but the last; it needs only the standard
library, so receivers can copy it."""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-MLOps-Signature"
EVENT_ID_HEADER = "X-MLOps-Event-Id"
EVENT_TYPE_HEADER = "X-MLOps-Event"
DELIVERY_HEADER = "X-MLOps-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature header is missing, malformed, too old or does not match."""


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secrets: list[bytes], body: bytes, timestamp: int | None = None) -> str:
    """The header value for a body, signed with every secret."""
    if not secrets:
        raise ValueError("no signing secret configured")
    stamp = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={stamp}", *(f"v1={_digest(secret, stamp, body)}" for secret in secrets)])


def verify(
    secret: bytes,
    header: str | None,
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a signature header against the raw body; return its timestamp or raise SignatureError."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    stamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            stamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if stamp is None or not candidates:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header (expected t=<seconds>,v1=<hex>)")
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise SignatureError(f"signature timestamp {stamp} is outside the tolerance of {tolerance:.0f}s")
    expected = _digest(secret, stamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("signature does not match the body")
    return stamp
