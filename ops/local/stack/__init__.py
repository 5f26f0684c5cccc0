"""The local stack: MLflow (embedded: SQLite; full: PostgreSQL + S3), the gateway and a Slack sink."""

from ops.local.stack.errors import StackError
from ops.local.stack.settings import StackSettings
from ops.local.stack.stack import Stack

__all__ = ["Stack", "StackError", "StackSettings"]
