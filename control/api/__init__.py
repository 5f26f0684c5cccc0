"""HTTP routers of the control API, one per domain."""
