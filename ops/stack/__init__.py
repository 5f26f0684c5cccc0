"""The local stack: MLflow (embedded: SQLite; full: PostgreSQL + S3), the gateway and a Slack sink."""

from ops.stack.errors import StackError
from ops.stack.settings import StackSettings
from ops.stack.stack import Stack

__all__ = ["Stack", "StackError", "StackSettings"]
