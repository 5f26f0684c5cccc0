"""Operators' tools for the cluster (`seal`, `rotate`, `certs`) and, in `ops/local`, the one-machine stack."""
