"""`python -m serving`: validate the config, then run one uvicorn process (uvloop + httptools).

One process is one replica: scale with replicas (Kubernetes: pods), never with workers in a process.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from serving.config import ConfigError, load_config
from serving.settings import Settings


def main() -> int:
    """Entry point; exit code 2 with one line when the settings or the config file are bad."""
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        print(f"serving: bad setting {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
        return 2
    try:
        load_config(settings.config)
    except ConfigError as error:
        print(f"serving: bad config {settings.config}: {error}", file=sys.stderr)
        return 2

    import uvicorn

    from serving import logs

    logs.setup(settings.log_level, settings.log_dir, settings.replica_id)
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
