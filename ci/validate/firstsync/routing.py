"""What Gateway API objects need and give: listener certificates, route parents and backends, and the
ReferenceGrants that allow a reference into another namespace."""

from __future__ import annotations

from ci.validate.firstsync.needs import Need, key


def grant_key(from_ns: str, from_kind: str, to_ns: str, to_kind: str, to_name: str) -> str:
    """The key of a ReferenceGrant permission (`to_name` "*" for a grant that names no object)."""
    return f"grant:{from_ns}/{from_kind}->{to_ns}/{to_kind}/{to_name}"


def grant_provides(doc: dict, ns: str) -> set[str]:
    """Every (from, to) permission a ReferenceGrant in `ns` gives."""
    spec = doc.get("spec") or {}
    out = set()
    for src in spec.get("from") or []:
        for dst in spec.get("to") or []:
            out.add(
                grant_key(
                    src.get("namespace", ""),
                    src.get("kind", ""),
                    ns,
                    dst.get("kind", ""),
                    dst.get("name") or "*",
                )
            )
    return out


def listener_key(namespace: str, gateway: str, listener: str) -> str:
    """The key of one listener of a Gateway (what a route's parentRefs sectionName names)."""
    return f"Listener/{namespace}/{gateway}/{listener}"


def gateway_provides(doc: dict, ns: str) -> set[str]:
    """The listeners a Gateway opens."""
    name = (doc.get("metadata") or {}).get("name", "")
    return {
        listener_key(ns, name, ln.get("name", "")) for ln in (doc.get("spec") or {}).get("listeners") or []
    }


def _cross_namespace(kind: str, ns: str, ref_kind: str, ref_ns: str, name: str, why: str) -> Need:
    return Need(
        "referencegrant",
        grant_key(ns, kind, ref_ns, ref_kind, name),
        f"{why} in namespace {ref_ns}",
        eventually=True,
        any_of=(grant_key(ns, kind, ref_ns, ref_kind, "*"),),
    )


def gateway_needs(doc: dict, ns: str) -> list[Need]:
    """A Gateway's listener certificates: the Secret (issued later by cert-manager: eventually) and,
    in another namespace, the ReferenceGrant that lets the Gateway read it."""
    out = []
    for listener in (doc.get("spec") or {}).get("listeners") or []:
        for ref in (listener.get("tls") or {}).get("certificateRefs") or []:
            if ref.get("kind", "Secret") != "Secret" or ref.get("group", ""):
                continue
            ref_ns = ref.get("namespace") or ns
            why = f"listener {listener.get('name')} certificateRefs"
            out.append(Need("tls", key("Secret", ref_ns, ref["name"]), why, eventually=True))
            if ref_ns != ns:
                out.append(_cross_namespace("Gateway", ns, "Secret", ref_ns, ref["name"], why))
    return out


def route_needs(doc: dict, ns: str) -> list[Need]:
    """An HTTPRoute's parent Gateways and backend Services (either may come later: the route waits
    unattached, but Argo CD holds its step Progressing until a parent exists), and a ReferenceGrant for
    a backend in another namespace."""
    spec = doc.get("spec") or {}
    out = []
    for parent in spec.get("parentRefs") or []:
        if parent.get("kind", "Gateway") == "Gateway":
            where = parent.get("namespace") or ns
            # Argo CD's HTTPRoute health is Progressing until a parent Gateway's controller writes
            # status.parents: the route's step holds the waves after it until the Gateway exists
            if section := parent.get("sectionName"):
                wanted = listener_key(where, parent["name"], section)
                out.append(
                    Need("gateway", wanted, "parentRefs sectionName", eventually=True, holds_health=True)
                )
            else:
                wanted = key("Gateway", where, parent["name"])
                out.append(Need("gateway", wanted, "parentRefs", eventually=True, holds_health=True))
    for rule in spec.get("rules") or []:
        for backend in rule.get("backendRefs") or []:
            if backend.get("kind", "Service") != "Service" or backend.get("group", ""):
                continue
            where = backend.get("namespace") or ns
            why = f"backendRefs {backend['name']}:{backend.get('port')}"
            out.append(Need("service", key("Service", where, backend["name"]), why, eventually=True))
            if where != ns:
                out.append(_cross_namespace(doc["kind"], ns, "Service", where, backend["name"], why))
    return out
