"""IAM and STS calls of the rotation, through boto3 (endpoint and credentials from the usual AWS env).

``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_IAM`` / ``AWS_ENDPOINT_URL_STS`` are honoured by botocore, so the
same code talks to AWS or to a local moto server.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from ops.rotate.errors import RotateError, StepFailed

_CONFIG = botocore.config.Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20
)
_AUTH_ERRORS = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "UnrecognizedClientException",
}


@dataclass(frozen=True)
class AccessKey:
    """An access key as IAM lists it (the id is not secret; the secret is never kept here)."""

    key_id: str
    status: str
    created: dt.datetime | None = None


@dataclass(frozen=True)
class NewKey:
    """A freshly created key; ``secret`` lives only in memory and in SealedSecret ciphertexts."""

    key_id: str
    secret: str

    def __repr__(self) -> str:  # never leak the secret through logs or tracebacks
        return f"NewKey(key_id={self.key_id!r}, secret=<redacted>)"


def _error_code(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


class Iam:
    """The IAM operations on one user, with the operator's (admin) credentials."""

    def __init__(self, user: str, session: boto3.Session | None = None) -> None:
        self.user = user
        self.session = session or boto3.Session()
        region = self.session.region_name or "us-east-1"
        self.client = self.session.client("iam", region_name=region, config=_CONFIG)
        self.region = region

    def _call(self, what: str, fn: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        try:
            return fn(**kwargs)
        except botocore.exceptions.ClientError as exc:
            code = _error_code(exc)
            if code == "NoSuchEntity":
                raise RotateError(f"IAM user {self.user!r} does not exist") from None
            raise StepFailed(f"IAM {what} failed: {code}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise StepFailed(f"IAM {what} failed: {type(exc).__name__}") from None

    def user_arn(self) -> str:
        return str(self._call("GetUser", self.client.get_user, UserName=self.user)["User"]["Arn"])

    def access_keys(self) -> list[AccessKey]:
        resp = self._call("ListAccessKeys", self.client.list_access_keys, UserName=self.user)
        return [
            AccessKey(k["AccessKeyId"], k["Status"], k.get("CreateDate")) for k in resp["AccessKeyMetadata"]
        ]

    def create(self) -> NewKey:
        resp = self._call("CreateAccessKey", self.client.create_access_key, UserName=self.user)["AccessKey"]
        return NewKey(resp["AccessKeyId"], resp["SecretAccessKey"])

    def set_status(self, key_id: str, status: str) -> None:
        self._call(
            f"UpdateAccessKey({status})",
            self.client.update_access_key,
            UserName=self.user,
            AccessKeyId=key_id,
            Status=status,
        )

    def delete(self, key_id: str) -> None:
        self._call("DeleteAccessKey", self.client.delete_access_key, UserName=self.user, AccessKeyId=key_id)

    def last_used(self, key_id: str) -> tuple[dt.datetime | None, str]:
        """When and by which service the key was last used (``N/A`` when never)."""
        resp = self._call("GetAccessKeyLastUsed", self.client.get_access_key_last_used, AccessKeyId=key_id)
        info = resp.get("AccessKeyLastUsed") or {}
        return info.get("LastUsedDate"), str(info.get("ServiceName") or "N/A")


def verify_key(
    key: NewKey, expected_arn: str, region: str, timeout_s: float, sleep: Callable[[float], None] = time.sleep
) -> None:
    """STS GetCallerIdentity with the new key until it answers as ``expected_arn`` (IAM is eventually
    consistent: a new key can be rejected for a few seconds)."""
    session = boto3.Session(
        aws_access_key_id=key.key_id, aws_secret_access_key=key.secret, region_name=region
    )
    sts = session.client("sts", config=_CONFIG)
    deadline = time.monotonic() + timeout_s
    delay, last = 1.0, "no attempt"
    while True:
        try:
            arn = sts.get_caller_identity()["Arn"]
            if arn == expected_arn:
                return
            raise StepFailed(f"the new key {key.key_id} authenticates as {arn}, not {expected_arn}")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            last = _error_code(exc)
            if isinstance(exc, botocore.exceptions.ClientError) and last not in _AUTH_ERRORS:
                raise StepFailed(f"STS GetCallerIdentity with the new key failed: {last}") from None
        if time.monotonic() + delay > deadline:
            raise StepFailed(
                f"the new key {key.key_id} did not verify within {timeout_s:.0f}s (last: {last})"
            )
        sleep(delay)
        delay = min(delay * 2, 10.0)
