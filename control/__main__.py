"""`python -m control`: the control API under uvicorn (settings from the environment)."""

import sys

from pydantic import ValidationError


def main() -> int:
    import uvicorn

    from control.app import build_app
    from control.auth import KeyFormatError, KeyRing
    from control.logs import setup
    from control.settings import ControlSettings

    try:
        settings = ControlSettings()
        keys = KeyRing(settings.api_keys.get_secret_value(), settings.read_api_keys.get_secret_value())
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        print(f"error: invalid setting in the environment: {problems}", file=sys.stderr)
        return 2
    except KeyFormatError as error:
        print(f"error: CONTROL_API_KEYS/CONTROL_READ_API_KEYS: {error}", file=sys.stderr)
        return 2
    if not keys:
        print(
            "error: set CONTROL_API_KEYS (name:key pairs, from a Secret): no key, no access", file=sys.stderr
        )
        return 2
    setup(settings.log_level, settings.log_dir, settings.replica_id)
    uvicorn.run(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
