"""Answer "may A reach B on port P" from NetworkPolicy objects, with the semantics of the Kubernetes API
(networking.k8s.io/v1): a pod is isolated for a direction when a policy of its namespace selects it with
that policy type; then only the union of those policies' rules allows traffic; a connection needs the
source's egress and the destination's ingress.

Ends are pods (namespace + labels, named ports) or addresses outside the pod network (``ip``). ipBlock
peers match addresses only, and pod selectors match pods only: what a CNI does for pod IPs that fall in
an ipBlock is implementation-defined, so the checker never counts on it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """A pod (``namespace`` and ``labels``) or an address outside the pod network (``ip``)."""

    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None
    named_ports: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions); an empty selector matches everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _namespace_labels(namespace: str, extra: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {NAME_LABEL: namespace, **(extra.get(namespace) or {})}


def peer_matches(
    peer: Mapping[str, Any],
    policy_namespace: str,
    other: Endpoint,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    """Whether one NetworkPolicyPeer (podSelector / namespaceSelector / ipBlock) names ``other``."""
    if "ipBlock" in peer:
        if other.ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        if address not in ipaddress.ip_network(block["cidr"], strict=False):
            return False
        return not any(address in ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])
    if not other.is_pod:
        return False
    if "namespaceSelector" in peer:
        ns_labels = _namespace_labels(str(other.namespace), namespace_labels)
        if not selector_matches(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selector_matches(peer["podSelector"], other.labels)


def port_matches(ports: Sequence[Mapping[str, Any]] | None, dst: Endpoint, port: int, protocol: str) -> bool:
    """A rule's ports (absent or empty: every port); named ports resolve on the destination pod."""
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str) and not wanted.isdigit():
            if dst.named_ports.get(wanted) == port:
                return True
            continue
        low = int(wanted)
        if low <= port <= int(entry.get("endPort", low)):
            return True
    return False


def _policy_types(spec: Mapping[str, Any]) -> list[str]:
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", *(["Egress"] if "egress" in spec else [])]


def _selecting(
    policies: Iterable[Mapping[str, Any]], pod: Endpoint, direction: str
) -> list[Mapping[str, Any]]:
    return [
        p
        for p in policies
        if p.get("kind") == "NetworkPolicy"
        and (p.get("metadata") or {}).get("namespace") == pod.namespace
        and direction in _policy_types(p.get("spec") or {})
        and selector_matches((p.get("spec") or {}).get("podSelector"), pod.labels)
    ]


def _allowed(
    policies: Iterable[Mapping[str, Any]],
    pod: Endpoint,
    other: Endpoint,
    dst: Endpoint,
    port: int,
    protocol: str,
    direction: str,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    selecting = _selecting(policies, pod, direction)
    if not selecting:
        return True  # not isolated in this direction
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in (policy.get("spec") or {}).get(rules_key) or []:
            peers = rule.get(peers_key)
            named = not peers or any(
                peer_matches(peer, str(pod.namespace), other, namespace_labels) for peer in peers
            )
            if named and port_matches(rule.get("ports"), dst, port, protocol):
                return True
    return False


def may_connect(
    policies: Sequence[Mapping[str, Any]],
    src: Endpoint,
    dst: Endpoint,
    port: int,
    protocol: str = "TCP",
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> bool:
    """Whether ``src`` may open a connection to ``dst`` on ``port``/``protocol`` under ``policies``
    (every object must carry its metadata.namespace). ``namespace_labels`` adds labels to namespaces
    beyond kubernetes.io/metadata.name."""
    labels = namespace_labels or {}
    egress = not src.is_pod or _allowed(policies, src, dst, dst, port, protocol, "Egress", labels)
    ingress = not dst.is_pod or _allowed(policies, dst, src, dst, port, protocol, "Ingress", labels)
    return egress and ingress
