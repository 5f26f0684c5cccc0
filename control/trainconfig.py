"""The trainer's config rules, applied without importing the trainer.

`control/contracts/trainer_config.json` is the trainer's published contract (`python -m trainer
contract`; a test fails when this copy drifts). From its JSON Schema this module builds a pydantic model
with the same types and constraints, so field errors carry pydantic's own messages exactly as the
trainer reports them, and it applies the contract's data rules (dataset and algorithm per task, profile
names, hyperparameter names per algorithm) with the trainer's message templates. Hyperparameter values
(types, ranges) are checked by scikit-learn inside the training pod; a bad one fails the job's `train`
task with the trainer's message.
"""

import json
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

CONTRACT_FILE = Path(__file__).with_name("contracts") / "trainer_config.json"
ANNOTATIONS = {"title", "description", "default"}


class ConfigInvalid(ValueError):
    """A training config the trainer would refuse; the message is the trainer's one line."""


class ContractError(RuntimeError):
    """The contract uses a JSON Schema construct this module does not translate (a bug, not bad input)."""


def _constraints(schema: dict[str, Any]) -> dict[str, Any]:
    keys = {
        "minLength": "min_length",
        "maxLength": "max_length",
        "pattern": "pattern",
        "minimum": "ge",
        "maximum": "le",
        "exclusiveMinimum": "gt",
        "exclusiveMaximum": "lt",
    }
    return {keys[k]: v for k, v in schema.items() if k in keys}


class _Translator:
    """JSON Schema (the subset pydantic emits for the trainer's config) → Python types."""

    SCALARS = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}
    KNOWN = {"type", "anyOf", "$ref", "enum", "additionalProperties", "minLength", "maxLength", "pattern"} | {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    }

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.enums: dict[str, type[StrEnum]] = {}

    def type_of(self, schema: dict[str, Any]) -> Any:
        unknown = set(schema) - self.KNOWN - ANNOTATIONS
        if unknown:
            raise ContractError(f"unsupported JSON Schema keywords {sorted(unknown)} in {schema}")
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "anyOf" in schema:
            members = tuple(self.type_of(member) for member in schema["anyOf"])
            return Union[members]  # noqa: UP007 - built from a runtime tuple
        kind = schema.get("type")
        if kind == "object":
            values = schema.get("additionalProperties", {})
            return dict[str, self.type_of(values) if values else Any]
        if kind in self.SCALARS and "enum" not in schema:
            return self.SCALARS[kind]
        raise ContractError(f"unsupported JSON Schema {schema}")

    def _ref(self, ref: str) -> type[StrEnum]:
        name = ref.removeprefix("#/$defs/")
        if name not in self.enums:
            target = self.defs[name]
            if target.get("type") != "string" or "enum" not in target:
                raise ContractError(f"only string enums are supported in $defs, not {target}")
            self.enums[name] = StrEnum(name, {value: value for value in target["enum"]})
        return self.enums[name]


class TrainerConfigRules:
    """The contract loaded once: `validate(data)` answers the normalised config or raises ConfigInvalid."""

    def __init__(self, contract: dict[str, Any]) -> None:
        self.contract = contract
        self.prefix = contract["error_prefix"]
        self.model = self._build_model(contract)

    def _build_model(self, contract: dict[str, Any]) -> type[BaseModel]:
        schema = contract["schema"]
        translate = _Translator(schema.get("$defs", {}))
        required = set(schema.get("required", []))
        fields: dict[str, Any] = {}
        for name, spec in schema["properties"].items():
            python_type = translate.type_of(spec)
            constraints = _constraints(spec)
            if name in required:
                fields[name] = (python_type, Field(**constraints))
            elif "default" in spec:
                fields[name] = (python_type, Field(default=spec["default"], **constraints))
            else:
                fields[name] = (python_type, Field(default_factory=dict, **constraints))
        extra = "forbid" if schema.get("additionalProperties") is False else "ignore"
        task_fit = contract["task_fit"]

        def check_task_fit(config: Any) -> Any:
            task = str(config.task)
            for field, choices in (("dataset", task_fit["datasets"]), ("algorithm", task_fit["algorithms"])):
                value = getattr(config, field)
                if value not in choices[task]:
                    raise ValueError(
                        task_fit["message"].format(
                            field=field, value=value, task=task, choices=tuple(choices[task])
                        )
                    )
            return config

        base = type(
            "ContractBase",
            (BaseModel,),
            {
                "model_config": ConfigDict(extra=extra, frozen=True),
                "_check_task_fit": model_validator(mode="after")(check_task_fit),
            },
        )
        return create_model(schema.get("title", "TrainConfig"), __base__=base, **fields)

    def _format(self, error: ValidationError) -> str:
        parts = []
        for item in error.errors():
            location = ".".join(str(p) for p in item["loc"]) or "(root)"
            parts.append(f"{location}: {item['msg'].removeprefix('Value error, ')}")
        return self.prefix + "; ".join(parts)

    def validate(self, data: Any) -> dict[str, Any]:
        """The config as the trainer would run it (defaults filled in), or ConfigInvalid with its line."""
        if not isinstance(data, dict):
            raise ConfigInvalid(f"{self.prefix}expected a JSON object, got {type(data).__name__}")
        try:
            config = self.model.model_validate(data)
        except ValidationError as error:
            raise ConfigInvalid(self._format(error)) from None
        profiles = self.contract["profiles"]
        profile = config.profile or profiles["default_by_task"][str(config.task)]
        if profile not in profiles["known"]:
            raise ConfigInvalid(profiles["message"].format(name=profile, known=profiles["known"]))
        rules = self.contract["hyperparameters"]
        accepted = rules["accepted"][str(config.task)][config.algorithm]
        for name in config.hyperparameters:
            if name not in accepted["names"]:
                message = rules["message"].format(name=name, estimator=accepted["estimator"])
                raise ConfigInvalid(self.prefix + message)
        return config.model_dump(mode="json")

    def json_schema(self) -> dict[str, Any]:
        """The contract's JSON Schema with `$ref`s inlined (to embed in the OpenAPI document), plus its
        data rules as JSON Schema: the datasets, algorithms and hyperparameter names each task
        accepts, and the known profiles."""
        schema = self.contract["schema"]
        defs = schema.get("$defs", {})

        def inline(node: Any) -> Any:
            if isinstance(node, dict):
                if "$ref" in node:
                    target = inline(defs[node["$ref"].removeprefix("#/$defs/")])
                    return {**target, **{k: inline(v) for k, v in node.items() if k != "$ref"}}
                return {k: inline(v) for k, v in node.items() if k != "$defs"}
            if isinstance(node, list):
                return [inline(item) for item in node]
            return node

        out = inline(schema)
        profiles = self.contract["profiles"]["known"]
        out["properties"]["profile"] = {
            **out["properties"]["profile"],
            "anyOf": [{"type": "string", "enum": profiles}, {"type": "null"}],
        }
        fit, accepted = self.contract["task_fit"], self.contract["hyperparameters"]["accepted"]
        rules: list[dict[str, Any]] = []
        for task, datasets in fit["datasets"].items():
            when = {"properties": {"task": {"const": task}}, "required": ["task"]}
            rules.append(
                {
                    "if": when,
                    "then": {
                        "properties": {
                            "dataset": {"enum": datasets},
                            "algorithm": {"enum": fit["algorithms"][task]},
                        }
                    },
                }
            )
            for algorithm, names in accepted[task].items():
                both = {
                    "properties": {"task": {"const": task}, "algorithm": {"const": algorithm}},
                    "required": ["task", "algorithm"],
                }
                names_rule = {"properties": {"hyperparameters": {"propertyNames": {"enum": names["names"]}}}}
                rules.append({"if": both, "then": names_rule})
        out["allOf"] = rules
        return out


@cache
def rules() -> TrainerConfigRules:
    """The rules of the packaged contract."""
    return TrainerConfigRules(json.loads(CONTRACT_FILE.read_text(encoding="utf-8")))
