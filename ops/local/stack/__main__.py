"""`python -m ops.local.stack up|down|status` (what `make up`, `make down` and `make status` run)."""

import argparse
import sys
import time

from pydantic import ValidationError

from ops.local.stack import Stack, StackError, StackSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.local.stack", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    try:
        stack = Stack(StackSettings())
        s = stack.settings
        if args.command == "up":
            began = time.monotonic()
            print(f"==> local stack ({s.mode}) in {s.state_dir}")
            started = stack.up()
            took = time.monotonic() - began
            print(f"==> {'started ' + ', '.join(started) if started else 'already running'} ({took:.1f}s)")
            print(f"    MLflow   {s.mlflow_uri}")
            if s.with_gateway:
                print(f"    gateway  {s.serving_url}")
            print(f"    Slack    {s.slack_log} (webhook {s.slack_webhook_url})")
            print(f"    env      source {stack.env_file}")
        elif args.command == "down":
            stopped = stack.down()
            print(f"==> stopped {', '.join(stopped)}" if stopped else "==> nothing was running")
            print(f"    data kept in {s.state_dir}")
        else:
            rows = stack.status()
            print(f"{'service':<12} {'pid':>8}  {'health':<8} {'endpoint':<28} log")
            for row in rows:
                health = "healthy" if row.healthy else ("DOWN" if row.pid is None else "UNHEALTHY")
                print(f"{row.name:<12} {row.pid or '-':>8}  {health:<8} {row.endpoint:<28} {row.log}")
            return 0 if all(r.healthy for r in rows) else 1
        return 0
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        print(f"error: invalid stack setting in the environment: {problems}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
