"""Persistent state of the control API: jobs, deployments, their events, callback deliveries, the
follower's lease. Functions take a SQLAlchemy connection; `Database` hands out read and write
transactions (a write may be fenced by the lease, so a replica that lost it writes nothing)."""

from control.store.database import Database, Fence, LeaseLost

__all__ = ["Database", "Fence", "LeaseLost"]
