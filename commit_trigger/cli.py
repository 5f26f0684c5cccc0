"""`python -m commit_trigger --sha SHA (--changed PATH... | --repo DIR | --clone URL)`.

Exit codes: 0 done (runs started, already triggered, or nothing to train), 2 bad input (the line says
what to fix), 3 Airflow unreachable or refused the call."""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError

from airflow_rest import AirflowAPIError, AirflowClient
from commit_trigger import slack
from commit_trigger.errors import TriggerInputError
from commit_trigger.gitrepo import GitRepo
from commit_trigger.rules import DEFAULT_RULES, Rules, parse_rules
from commit_trigger.settings import TriggerSettings
from commit_trigger.trigger import Change, Report, check_sha, find_change, plan, summary_lines, trigger


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m commit_trigger", description=__doc__.splitlines()[0])
    p.add_argument("--sha", required=True, help="the commit (a revision such as HEAD with --repo/--clone)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--changed", nargs="*", metavar="PATH", help="the paths the commit changed")
    source.add_argument("--repo", type=Path, help="a git checkout: changed paths, rules and configs from git")
    source.add_argument(
        "--clone", metavar="URL", help="clone this repository (blobless) and use it as --repo"
    )
    p.add_argument(
        "--base",
        help="with --repo/--clone: diff against this revision (default: the last commit "
        "that triggered training, else the first parent)",
    )
    p.add_argument(
        "--rules",
        default=DEFAULT_RULES,
        help=f"rules file (default {DEFAULT_RULES}; read from "
        "the commit with --repo/--clone, from the working folder with --changed)",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="with --changed: the checkout the rules and configs are read from (default: the working folder)",
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON line")
    return p


def _rules_from_git(repo: GitRepo, sha: str, path: str) -> Rules:
    text = repo.read(sha, path)
    if text is None:
        raise TriggerInputError(f"commit {sha[:12]} has no rules file {path}")
    rules = parse_rules(text, f"{path}@{sha[:12]}")
    missing = [n for n in rules.configs if repo.read(sha, rules.config_path(n)) is None]
    if missing:
        raise TriggerInputError(f"{path}@{sha[:12]} names configs the commit lacks: {', '.join(missing)}")
    return rules


def _rules_from_file(root: Path, name: str) -> Rules:
    path = root / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TriggerInputError(f"cannot read rules file {path}: {error.strerror}") from None
    rules = parse_rules(text, str(path))
    missing = [n for n in rules.configs if not (root / rules.config_path(n)).is_file()]
    if missing:
        raise TriggerInputError(f"{path} names configs that do not exist in {root}: {', '.join(missing)}")
    return rules


def run(args: argparse.Namespace, settings: TriggerSettings) -> Report:
    password = settings.password.get_secret_value()
    with (
        AirflowClient(
            settings.airflow_url, settings.username, password, timeout=settings.timeout_seconds
        ) as c,
        tempfile.TemporaryDirectory(prefix="commit-trigger-") as scratch,
    ):
        if args.changed is not None:
            sha = check_sha(args.sha)
            rules = _rules_from_file(args.root, args.rules)
            paths = {p.strip().removeprefix("./") for p in args.changed if p.strip()}
            change = Change(sha, sorted(paths))
        else:
            repo = GitRepo(args.repo) if args.repo else GitRepo.clone(args.clone, Path(scratch) / "repo")
            sha = repo.resolve(args.sha)
            rules = _rules_from_git(repo, sha, args.rules)
            change = find_change(repo, c, rules.dag_id, sha, args.base)
        return trigger(c, rules, change, plan(rules, change), settings.ui_base)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = TriggerSettings()
        report = run(args, settings)
    except ValidationError as error:
        names = ", ".join(str(e["loc"][0]) for e in error.errors())
        print(f"error: set {names} (the Airflow CI/API user's password comes from a Secret)", file=sys.stderr)
        return 2
    except TriggerInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except AirflowAPIError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print("\n".join(summary_lines(report)), flush=True)
    if args.json:
        print(json.dumps(report.as_dict()), flush=True)
    if settings.slack_webhook_url is not None:
        slack.post(settings.slack_webhook_url.get_secret_value(), report)
    return 0
