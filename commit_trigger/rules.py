"""Which changed paths train which configs: `trainer/train-on-commit.yaml`, read as data."""

import re
from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from commit_trigger.errors import TriggerInputError

DEFAULT_RULES = "trainer/train-on-commit.yaml"
RESERVED_CONF = ("config", "git_commit")


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: `**` any folders, `*` and `?` within one path segment."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(pattern: str, path: str) -> bool:
    """Whether a repository path (posix, relative) matches a glob such as `trainer/**/*.py`."""
    return _glob_regex(pattern).match(path) is not None


class ConfigRule(BaseModel):
    """One config that trains on commit: the trigger form its runs get (`first_conf` merged over it for
    the first commit that triggers training, e.g. the first version becomes the champion that later
    challengers are compared with), and extra paths that train it."""

    model_config = ConfigDict(extra="forbid")

    conf: dict[str, Any] = Field(default_factory=dict)
    first_conf: dict[str, Any] = Field(default_factory=dict)
    paths: list[str] = Field(default_factory=list)

    def run_conf(self, first: bool) -> dict[str, Any]:
        return {**self.conf, **(self.first_conf if first else {})}

    @field_validator("conf", "first_conf")
    @classmethod
    def _no_reserved_keys(cls, conf: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(set(conf) & set(RESERVED_CONF))
        if reserved:
            raise ValueError(f"{', '.join(reserved)} are set by the trigger, not the rules")
        return conf


class Rules(BaseModel):
    """The whole rules file."""

    model_config = ConfigDict(extra="forbid")

    dag_id: str = "ml_train_register_and_reload"
    configs_dir: str = "trainer/configs"
    retrain_all: list[str] = Field(default_factory=list)
    configs: dict[str, ConfigRule]

    def config_path(self, name: str) -> str:
        return f"{self.configs_dir.rstrip('/')}/{name}.json"

    def affected(self, changed: list[str]) -> dict[str, list[str]]:
        """Config name → the changed paths that make it train (empty dict: nothing to train)."""
        everything = [p for p in changed if any(matches(g, p) for g in self.retrain_all)]
        out: dict[str, list[str]] = {}
        for name, rule in self.configs.items():
            own = [
                p for p in changed if p == self.config_path(name) or any(matches(g, p) for g in rule.paths)
            ]
            reasons = sorted(set(own + everything))
            if reasons:
                out[name] = reasons
        return out


def parse_rules(text: str, source: str) -> Rules:
    """Rules from YAML text; a bad file fails with one line naming the field."""
    try:
        data = yaml.safe_load(text)
        return Rules.model_validate(data)
    except yaml.YAMLError as error:
        raise TriggerInputError(f"{source}: not valid YAML: {str(error).splitlines()[0]}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise TriggerInputError(f"{source}: {where}: {first['msg']}") from None
