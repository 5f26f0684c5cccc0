"""HTTP routers of the gateway, one per domain."""
