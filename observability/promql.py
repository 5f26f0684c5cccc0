"""The metric names a PromQL expression reads, found by a small tokenizer (not a regex over the text).

Grafana template variables are made concrete first (`concrete`), so the same text is what promtool parses.
Only the subset of PromQL the dashboards use needs names found, but the tokenizer follows the grammar:
strings, label matchers `{...}`, ranges and subqueries `[...]`, function and aggregation calls, the
label lists of `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`, keywords and numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Grafana's interval variables, and a duration promtool accepts in their place.
_INTERVAL_VARIABLES = re.compile(
    r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}"
)
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_GROUPING = {"by", "without"}
_KEYWORDS = _LABEL_LISTS | {"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan"}
_IDENT_START = re.compile(r"[A-Za-z_:]")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(
    r"(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)([smhdwy]|ms)?([0-9]+([smhdwy]|ms))*"
)
_CLOSING = {"{": "}", "[": "]"}


class PromQLSyntaxError(ValueError):
    """The text is not an expression this tokenizer understands (unbalanced brackets, odd characters)."""


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, matchers, range, punct, op
    text: str


def concrete(expr: str) -> str:
    """The expression with Grafana's interval variables replaced by a fixed duration (5m)."""
    return _INTERVAL_VARIABLES.sub("5m", expr)


def _string_end(text: str, start: int) -> int:
    quote = text[start]
    i = start + 1
    while i < len(text):
        if text[i] == "\\" and quote != "`":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise PromQLSyntaxError(f"unterminated string at {start}: {text!r}")


def _bracket_end(text: str, start: int) -> int:
    closing = _CLOSING[text[start]]
    i = start + 1
    while i < len(text):
        char = text[i]
        if char in "\"'`":
            i = _string_end(text, i)
            continue
        if char == closing:
            return i + 1
        if char in "{[":
            raise PromQLSyntaxError(f"nested {char!r} at {i}: {text!r}")
        i += 1
    raise PromQLSyntaxError(f"unclosed {text[start]!r} at {start}: {text!r}")


def tokenize(expr: str) -> list[Token]:
    """The tokens of one expression; matchers and ranges are single tokens (their insides name no metric)."""
    tokens: list[Token] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char.isspace():
            i += 1
        elif char == "#":  # a comment runs to the end of the line
            end = expr.find("\n", i)
            i = len(expr) if end < 0 else end
        elif char in "\"'`":
            end = _string_end(expr, i)
            tokens.append(Token("string", expr[i:end]))
            i = end
        elif char in "{[":
            end = _bracket_end(expr, i)
            tokens.append(Token("matchers" if char == "{" else "range", expr[i:end]))
            i = end
        elif _IDENT_START.match(char):
            match = _IDENT.match(expr, i)
            assert match is not None
            tokens.append(Token("ident", match.group()))
            i = match.end()
        elif char.isdigit() or (char == "." and i + 1 < len(expr) and expr[i + 1].isdigit()):
            match = _NUMBER.match(expr, i)
            assert match is not None
            tokens.append(Token("number", match.group()))
            i = match.end()
        elif char in "(),":
            tokens.append(Token("punct", char))
            i += 1
        elif char in "+-*/%^=!<>@":
            j = i + 1
            while j < len(expr) and expr[j] in "=~":
                j += 1
            tokens.append(Token("op", expr[i:j]))
            i = j
        else:
            raise PromQLSyntaxError(f"unexpected {char!r} at {i}: {expr!r}")
    return tokens


def metric_names(expr: str) -> set[str]:
    """Names of the metrics an expression selects (selectors by `__name__` are refused: name them)."""
    tokens = tokenize(concrete(expr))
    names: set[str] = set()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if token.kind == "matchers" and "__name__" in token.text:
            raise PromQLSyntaxError(f"select metrics by name, not by __name__: {expr!r}")
        if token.kind != "ident":
            i += 1
            continue
        word = token.text.lower()
        if word in _LABEL_LISTS:
            i += 1
            if following is not None and following.text == "(":
                while i < len(tokens) and tokens[i].text != ")":
                    i += 1
            continue
        # a call `f(`, or an aggregation with its grouping first: `sum by (x) (...)`
        called = following is not None and (
            following.text == "(" or (following.kind == "ident" and following.text.lower() in _GROUPING)
        )
        if word not in _KEYWORDS and not called:
            names.add(token.text)
        i += 1
    return names
