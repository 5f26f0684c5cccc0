"""For developers on one machine: the local stack (`make up`), its Airflow and the demo (`make demo`).

The operators' tools for a cluster (sealing, key rotation, certificate checks) live beside this package
in `ops/seal`, `ops/rotate` and `ops/certs`."""
