"""What CloudNativePG and its Barman Cloud plugin give the cluster, and what their objects need.

A healthy `Cluster` gives its namespace the Services `<name>-rw`, `-ro`, `-r` and the Secret
`<name>-app` (the owner's credentials and `uri`) unless its initdb names a Secret of its own, plus
`<name>-superuser` where superuser access is enabled; a `Pooler` gives the Service of its name. Keys and
rules are those of `needs` (``Kind/ns/name``); needs come back as (rule, key, why) triples.
"""

from __future__ import annotations

GROUP = "postgresql.cnpg.io"
PLUGIN_GROUP = "barmancloud.cnpg.io"
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
_OPERATOR_KINDS = (
    "Cluster",
    "Backup",
    "ScheduledBackup",
    "Pooler",
    "Database",
    "ImageCatalog",
    "ClusterImageCatalog",
    "Publication",
    "Subscription",
    "FailoverQuorum",
)
# What the pinned upstream charts of bootstrap/platform install (see plan.UPSTREAM_CHARTS).
OPERATOR_CHARTS: dict[str, set[str]] = {
    "cloudnative-pg": {f"crd:{GROUP}/{kind}" for kind in _OPERATOR_KINDS},
    "plugin-barman-cloud": {f"crd:{PLUGIN_GROUP}/ObjectStore"},
}
SERVICE_SUFFIXES = ("rw", "ro", "r")
# Keys of the generated <cluster>-app Secret (CloudNativePG 1.30, "Connecting from an application").
APP_SECRET_KEYS = {"username", "password", "host", "port", "dbname", "uri", "jdbc-uri", "pgpass"}


def _is(doc: dict, group: str, kind: str) -> bool:
    return doc.get("kind") == kind and str(doc.get("apiVersion", "")).startswith(f"{group}/")


def provides(doc: dict, ns: str) -> set[str]:
    """The Secrets and Services the operator creates for a Cluster or Pooler once it is healthy."""
    name = (doc.get("metadata") or {}).get("name", "")
    spec = doc.get("spec") or {}
    if _is(doc, GROUP, "Pooler"):
        return {f"Service/{ns}/{name}"}
    if not _is(doc, GROUP, "Cluster"):
        return set()
    out = {f"Service/{ns}/{name}-{suffix}" for suffix in SERVICE_SUFFIXES}
    initdb = (spec.get("bootstrap") or {}).get("initdb") or {}
    if not initdb.get("secret"):
        out.add(f"Secret/{ns}/{name}-app")
    if spec.get("enableSuperuserAccess"):
        out.add(f"Secret/{ns}/{name}-superuser")
    return out


def _object_stores(plugins: list[dict], where: str) -> list[tuple[str, str]]:
    out = []
    for plugin in plugins:
        store = (plugin.get("parameters") or {}).get("barmanObjectName")
        if plugin.get("name") == BARMAN_PLUGIN and store:
            out.append((store, where))
    return out


def needs(doc: dict, ns: str) -> list[tuple[str, str, str]]:
    """(rule, key, why) of everything a CloudNativePG or Barman Cloud object needs when applied."""
    spec = doc.get("spec") or {}
    out: list[tuple[str, str, str]] = []
    if _is(doc, GROUP, "Cluster"):
        stores = _object_stores(spec.get("plugins") or [], "plugins barmanObjectName")
        for ext in spec.get("externalClusters") or []:
            stores += _object_stores([ext.get("plugin") or {}], f"externalClusters {ext.get('name')}")
        out += [("objectstore", f"ObjectStore/{ns}/{store}", where) for store, where in stores]
        bootstrap = spec.get("bootstrap") or {}
        for method in ("initdb", "recovery", "pg_basebackup"):
            if secret := ((bootstrap.get(method) or {}).get("secret") or {}).get("name"):
                out.append(("secret", f"Secret/{ns}/{secret}", f"bootstrap {method} secret"))
        if storage_class := (spec.get("storage") or {}).get("storageClass"):
            out.append(("storageclass", f"StorageClass/{storage_class}", "storage.storageClass"))
    elif _is(doc, GROUP, "ScheduledBackup") or _is(doc, GROUP, "Pooler"):
        if cluster := (spec.get("cluster") or {}).get("name"):
            out.append(("cluster", f"Cluster/{ns}/{cluster}", "spec.cluster"))
    elif _is(doc, PLUGIN_GROUP, "ObjectStore"):
        creds = (spec.get("configuration") or {}).get("s3Credentials") or {}
        for field in ("accessKeyId", "secretAccessKey", "region", "sessionToken"):
            if secret := (creds.get(field) or {}).get("name"):
                out.append(("secret", f"Secret/{ns}/{secret}", f"s3Credentials {field}"))
    # one need per key: the first field that names a Secret says why
    return list({need[1]: need for need in reversed(out)}.values())[::-1]
