"""Small pure parts: signatures, the callback allow-list, API keys, the job state machine."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control.allowlist import CallbackURLRefused, check_callback_url
from control.auth import KeyFormatError, KeyRing
from control.jobstate import (
    FAILED,
    ORDER,
    QUEUED,
    ROLLED_BACK,
    RUNNING,
    STATES,
    SUCCEEDED,
    TERMINAL,
    Verdict,
    advance,
    derive,
)
from control.signing import SignatureError, sign, verify


def test_signature_round_trip_tamper_replay_and_rotation() -> None:
    body = b'{"event_id":1}'
    header = sign([b"new", b"old"], body, timestamp=1_000)
    assert verify(b"old", header, body, now=1_010) == 1_000  # either secret verifies during a rotation
    assert verify(b"new", header, body, now=1_010) == 1_000
    with pytest.raises(SignatureError, match="does not match"):
        verify(b"new", header, body + b" ", now=1_010)
    with pytest.raises(SignatureError, match="does not match"):
        verify(b"other", header, body, now=1_010)
    with pytest.raises(SignatureError, match="outside the tolerance"):
        verify(b"new", header, body, now=1_000 + 301)
    for broken in (None, "", "v1=abc", "t=x,v1=abc", "t=5"):
        with pytest.raises(SignatureError):
            verify(b"new", broken, body, now=5)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example.com/x", True),
        ("http://hooks.example.com:8080/x", True),
        ("https://HOOKS.example.com./x", True),
        ("https://a.b.example.org/x", True),
        ("https://example.org/x", False),
        ("https://evil.com/hooks.example.com", False),
        ("https://hooks.example.com.evil.com/", False),
        ("http://127.0.0.1:9/x", False),
        ("ftp://hooks.example.com/x", False),
        ("https://user:pw@hooks.example.com/x", False),
        ("https://internal:9090/x", True),
        ("https://internal:9091/x", False),
        ("http://[::1/", False),
    ],
)
def test_callback_allow_list(url: str, ok: bool) -> None:
    allowed = ["hooks.example.com", "*.example.org", "internal:9090"]
    if ok:
        assert check_callback_url(url, allowed) == url
    else:
        with pytest.raises(CallbackURLRefused):
            check_callback_url(url, allowed)


def test_key_ring_names_scopes_and_bad_entries() -> None:
    ring = KeyRing("backend:k1,k2", "viewer:r1")
    assert ring.identify("k1").name == "backend" and ring.identify("k1").scope == "write"
    assert ring.identify("k2").name == "key-2"
    assert ring.identify("r1").scope == "read"
    assert ring.identify("k3") is None and ring.identify("") is None and ring.identify(None) is None
    assert not KeyRing("", "")
    with pytest.raises(KeyFormatError):
        KeyRing("backend:", "")


@pytest.mark.parametrize(
    ("run", "tasks", "state", "reason"),
    [
        (None, {}, QUEUED, None),
        ("queued", {"validate_conf": None}, QUEUED, None),
        ("queued", {"validate_conf": "running"}, RUNNING, None),
        ("running", {}, RUNNING, None),
        ("success", {"summary": "success"}, SUCCEEDED, None),
        ("success", {"quality_gate": "success", "register": "skipped"}, FAILED, "quality gate"),
        ("success", {"summary": "skipped"}, FAILED, "without releasing"),
        ("failed", {"train": "failed", "summary": "upstream_failed"}, FAILED, "task train failed"),
        ("failed", {"verify": "failed", "trigger_rollback_model": "success"}, ROLLED_BACK, "restored"),
        ("failed", {"reload": "failed", "rollback": "success"}, ROLLED_BACK, "restored"),
        ("failed", {"reload": "failed", "trigger_rollback_model": "failed"}, FAILED, "rollback failed too"),
        ("failed", {"reload": "failed", "trigger_rollback_model": "skipped"}, FAILED, "task reload failed"),
    ],
)
def test_state_from_the_airflow_run(run, tasks, state, reason) -> None:
    verdict = derive(run, tasks)
    assert verdict.state == state
    assert (verdict.reason is None) if reason is None else (reason in verdict.reason)


@given(st.lists(st.sampled_from(STATES), max_size=12))
def test_states_only_move_forward_and_terminal_is_final(sequence: list[str]) -> None:
    current = QUEUED
    for proposed in sequence:
        nxt = advance(current, Verdict(proposed)).state
        assert ORDER[nxt] >= ORDER[current]
        if current in TERMINAL:
            assert nxt == current
        current = nxt
