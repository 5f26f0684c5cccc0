"""``ci.validate.netpolicy`` against the NetworkPolicy semantics of the Kubernetes API, case by case."""

from __future__ import annotations

from ci.validate.netpolicy import Endpoint, may_connect

A = Endpoint("ns-a", {"app": "a", "tier": "web"}, named_ports={"http": 8080})
B = Endpoint("ns-a", {"app": "b"}, named_ports={"http": 8080})
C = Endpoint("ns-c", {"app": "a"})
OUTSIDE = Endpoint(ip="10.1.2.3")


def _policy(ns: str, spec: dict) -> dict:
    return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": ns}, "spec": spec}


def test_without_policies_everything_is_allowed() -> None:
    assert may_connect([], A, B, 1) and may_connect([], A, OUTSIDE, 443)


def test_an_ingress_policy_does_not_isolate_egress() -> None:
    deny_in = _policy("ns-a", {"podSelector": {}})  # policyTypes defaults to Ingress
    assert not may_connect([deny_in], A, B, 80)
    assert may_connect([deny_in], A, OUTSIDE, 443)


def test_pod_selector_peers_stay_in_the_policy_namespace() -> None:
    allow = _policy(
        "ns-a",
        {
            "podSelector": {"matchLabels": {"app": "b"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}],
        },
    )
    assert may_connect([allow], A, B, 80)
    assert not may_connect([allow], C, B, 80), "same labels, other namespace"


def test_namespace_and_pod_selector_in_one_peer_are_anded() -> None:
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ns-c"}},
        "podSelector": {"matchLabels": {"app": "x"}},
    }
    allow = _policy("ns-a", {"podSelector": {}, "ingress": [{"from": [peer]}]})
    assert not may_connect([allow], C, B, 80)
    assert may_connect([allow], Endpoint("ns-c", {"app": "x"}), B, 80)


def test_match_expressions() -> None:
    sel = {
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ]
    }
    allow = _policy(
        "ns-a", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [{"from": [{"podSelector": sel}]}]}
    )
    assert may_connect([allow], A, B, 80)
    assert not may_connect([allow], Endpoint("ns-a", {"tier": "web", "legacy": "1"}), B, 80)
    assert not may_connect([allow], Endpoint("ns-a", {"tier": "db"}), B, 80)


def test_ip_block_with_except_and_ports_with_end_port() -> None:
    rule = {
        "to": [{"ipBlock": {"cidr": "10.1.0.0/16", "except": ["10.1.9.0/24"]}}],
        "ports": [{"port": 8000, "endPort": 8010}],
    }
    allow = _policy("ns-a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]})
    assert may_connect([allow], A, OUTSIDE, 8005)
    assert not may_connect([allow], A, OUTSIDE, 8011)
    assert not may_connect([allow], A, Endpoint(ip="10.1.9.1"), 8005)
    assert not may_connect([allow], A, OUTSIDE, 8005, "UDP")
    assert not may_connect([allow], A, B, 8005), "an ipBlock never names a pod"


def test_named_ports_resolve_on_the_destination() -> None:
    allow = _policy("ns-a", {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]})
    assert may_connect([allow], C, B, 8080)
    assert not may_connect([allow], C, B, 8081)


def test_both_ends_must_allow() -> None:
    deny_out = _policy("ns-a", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"]})
    allow_in = _policy("ns-a", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [{}]})
    assert not may_connect([deny_out, allow_in], A, B, 80)
    assert may_connect([allow_in], A, B, 80), "an empty rule allows every peer and port"
