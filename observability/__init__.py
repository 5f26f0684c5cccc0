"""Observability as code: Grafana dashboards (and the PromQL tooling that checks them)."""
