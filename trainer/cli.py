"""Command line: `python -m trainer train|register|validate|profiles|contract`."""

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence

from pydantic import ValidationError

from trainer import logs
from trainer.config import format_validation_error, load_config
from trainer.errors import ConfigError, TrackingError, TrainerError
from trainer.profiles import load_profiles
from trainer.results import result_path, write_result
from trainer.settings import TrainerSettings


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def _parse_tags(pairs: Sequence[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--tag {pair!r}: expected KEY=VALUE")
        tags[key] = value
    return tags


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m trainer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train one model from a JSON config and log it to MLflow")
    train.add_argument("--config", required=True, help="path of the JSON training config")
    train.add_argument("--result-file", help="where to write the result JSON")

    register = commands.add_parser("register", help="register a run's model and wait until READY")
    register.add_argument("--run-id", required=True)
    register.add_argument("--name", required=True, help="registered model name")
    register.add_argument("--alias", help="alias to point at the new version (e.g. challenger)")
    register.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    register.add_argument("--timeout", type=float, help="seconds to wait for READY")
    register.add_argument("--result-file", help="where to write the result JSON")

    validate = commands.add_parser("validate", help="validate a JSON training config and exit")
    validate.add_argument("--config", required=True)

    commands.add_parser(
        "contract", help="print the config contract (JSON Schema and rules) for other services"
    )

    profiles = commands.add_parser("profiles", help="validate model_profiles.yaml and print it as JSON")
    profiles.add_argument("--file", help="path of model_profiles.yaml (default: the packaged one)")
    return parser


def _run_tracked(args: argparse.Namespace, settings: TrainerSettings) -> dict:
    """train or register; inputs are validated before MLflow (a slow import) is loaded."""
    if args.command == "train":
        # No check against the packaged model_profiles.yaml: the orchestrator picked the pod from the
        # repository's current file, which may know profiles this image's copy does not.
        config = load_config(args.config)
        from mlflow.exceptions import MlflowException

        from trainer.train import train

        call = lambda: train(config, settings)  # noqa: E731
    else:
        tags = _parse_tags(args.tag)
        if args.timeout is not None:
            settings = settings.model_copy(update={"register_timeout_seconds": args.timeout})
        from mlflow.exceptions import MlflowException

        from trainer.register import register

        call = lambda: register(args.run_id, args.name, settings, args.alias, tags)  # noqa: E731
    logs.route_stdlib("mlflow")
    try:
        return call()
    except MlflowException as error:
        raise TrackingError(f"MLflow: {error.message}") from None


def run(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the command, print and write its result; return the exit code."""
    logs.setup()
    try:
        args = build_parser().parse_args(argv)
        settings = TrainerSettings()
        logs.bind_ids(settings.airflow_dag_run_id, settings.airflow_dag_id, settings.airflow_task_id)
        if args.command == "validate":
            config = load_config(args.config)
            from trainer.estimators import build_estimator

            build_estimator(config)
            load_profiles().get(config.profile_name)
            summary = {**config.model_dump(mode="json"), "valid": True, "profile": config.profile_name}
            print(json.dumps(summary))
            return 0
        if args.command == "contract":
            from trainer.contract import contract

            print(json.dumps(contract(), indent=2))
            return 0
        if args.command == "profiles":
            print(json.dumps(load_profiles(args.file).model_dump(mode="json"), indent=2))
            return 0
        result = _run_tracked(args, settings)
        print(write_result(result, result_path(settings, args.result_file)))
        return 0
    except TrainerError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except ValidationError as error:
        print(f"error: {format_validation_error(error, 'settings')}", file=sys.stderr)
        return 2
    except Exception as error:
        if os.environ.get("TRAINER_DEBUG"):
            traceback.print_exc()
        print(
            f"error: {type(error).__name__}: {error} (set TRAINER_DEBUG=1 for the traceback)", file=sys.stderr
        )
        return 1
