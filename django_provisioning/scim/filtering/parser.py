"""Tokenizer and recursive-descent parser for SCIM filters and PATCH paths.

The grammar is the ABNF of RFC 7644 §3.4.2.2 (``FILTER``, ``attrPath``, ``valuePath``) and the
PATCH ``PATH`` of §3.5.2; the result is a tree of :mod:`.nodes`. Precedence is ``not`` >
``and`` > ``or`` (§3.4.2.2, "grouping operators"); ``and``/``or`` associate to the left.
Keywords, operators and ``true``/``false``/``null`` are case-insensitive (ABNF literals are).
Attribute names are kept as written; a schema URN prefix is rewritten to the known schema id it
names (RFC 7643 §2.1: URNs are case-insensitive), an unknown URN is kept as written.

Hostile input raises only :class:`~..errors.InvalidFilter` / :class:`~..errors.InvalidPath`:
the text is capped at :data:`~.nodes.MAX_FILTER_LENGTH` characters, grouping at
:data:`~.nodes.MAX_DEPTH` levels and the number of attribute expressions at
:data:`~.nodes.MAX_TERMS`, so neither recursion nor a query grows unbounded.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ...schema.definitions import SCHEMAS, USER_RESOURCE, split_urn
from ...schema.registry import user_extensions
from ..errors import InvalidFilter, InvalidPath
from .nodes import (
    COMPARE_OPS,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_TERMS,
    And,
    AttrPath,
    Compare,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
)

_KEYWORDS = COMPARE_OPS | {"pr", "and", "or", "not"}

# ---------------------------------------------------------------------------------- tokenizer

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<punct>[()\[\]])
    | (?P<word>[A-Za-z0-9_$:.+\-]+)
    """,
    re.VERBOSE | re.DOTALL,
)
_NAME_RE = re.compile(r"^[A-Za-z$][A-Za-z0-9_$\-]*$")
_NUMBER_RE = re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "punct", "word", "end"
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            if text[pos] == '"':
                raise InvalidFilter(f"Unterminated string starting at position {pos}.")
            raise InvalidFilter(f"Unexpected character {text[pos]!r} at position {pos}.")
        kind = match.lastgroup or "ws"
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _describe(token: _Token) -> str:
    return "the end of the filter" if token.kind == "end" else f"{token.text!r}"


def _canonical_urn(urn: str) -> str:
    for schema_id in SCHEMAS:
        if schema_id.lower() == urn.lower():
            return schema_id
    return urn


def _attr_path(text: str, pos: int) -> AttrPath:
    """``[URN ":"] ATTRNAME [ "." ATTRNAME ]`` (RFC 7644 §3.4.2.2 ``attrPath``)."""
    urn: str | None = None
    rest = text
    if text.lower().startswith("urn:"):
        urn, rest = split_urn(text, USER_RESOURCE)
        if urn is None:
            raw_urn, _sep, rest = text.rpartition(":")
            urn = _canonical_urn(raw_urn)
        if not rest:
            raise InvalidFilter(
                f"{text!r} at position {pos} names a schema, not an attribute: "
                "append ':attributeName'."
            )
    parts = rest.split(".")
    if len(parts) > 2:
        raise InvalidFilter(
            f"Attribute path {text!r} at position {pos} is too deep: "
            "use 'attribute' or 'attribute.subAttribute'."
        )
    for part in parts:
        if not _NAME_RE.match(part):
            raise InvalidFilter(f"Invalid attribute name {part!r} in {text!r} at position {pos}.")
    return AttrPath(urn, parts[0], parts[1] if len(parts) == 2 else None)


def _decode_string(token: _Token) -> str:
    try:
        value = json.loads(token.text, strict=False)
    except ValueError:
        raise InvalidFilter(f"Invalid escape in the string at position {token.pos}.") from None
    # NUL and lone surrogates cannot be stored or sent to the database: refuse them here.
    if "\x00" in value:
        raise InvalidFilter(f"The string at position {token.pos} contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFilter(f"The string at position {token.pos} is not valid Unicode.") from None
    return str(value)


# ------------------------------------------------------------------------------------ parser


class _Parser:
    """Recursive descent over the RFC 7644 §3.4.2.2 ABNF (``FILTER``, ``valuePath``)."""

    def __init__(self, text: Any) -> None:
        if not isinstance(text, str):
            raise InvalidFilter("The filter must be a string.")
        if len(text) > MAX_FILTER_LENGTH:
            raise InvalidFilter(
                f"The filter is too long ({len(text)} characters; at most {MAX_FILTER_LENGTH})."
            )
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.terms = 0
        self.in_brackets = False

    # -- token helpers
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def at_punct(self, char: str) -> bool:
        token = self.peek()
        return token.kind == "punct" and token.text == char

    def expect_punct(self, char: str, context: str) -> None:
        token = self.advance()
        if token.kind != "punct" or token.text != char:
            raise InvalidFilter(
                f"Expected {char!r} {context} at position {token.pos}, found {_describe(token)}."
            )

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind != "end":
            raise InvalidFilter(
                f"Unexpected {_describe(token)} at position {token.pos}: "
                "expected 'and', 'or' or the end of the filter."
            )

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidFilter(
                f"The filter is nested too deeply at position {token.pos} "
                f"(at most {MAX_DEPTH} levels)."
            )

    # -- grammar
    def parse_or(self) -> Filter:
        left = self.parse_and()
        while self.at_word("or"):
            self.advance()
            left = Or(left, self.parse_and())
        return left

    def parse_and(self) -> Filter:
        left = self.parse_unary()
        while self.at_word("and"):
            self.advance()
            left = And(left, self.parse_unary())
        return left

    def parse_unary(self) -> Filter:
        if self.at_word("not"):
            # The ABNF wants "not" "(" filter ")"; "not attr eq x" is accepted too.
            token = self.advance()
            self.enter(token)
            inner = self.parse_unary()
            self.depth -= 1
            return Not(inner)
        return self.parse_primary()

    def parse_primary(self) -> Filter:
        token = self.peek()
        if self.at_punct("("):
            self.advance()
            self.enter(token)
            inner = self.parse_or()
            self.expect_punct(")", f"to close the '(' at position {token.pos}")
            self.depth -= 1
            return inner
        if token.kind == "word":
            return self.parse_attr_exp()
        raise InvalidFilter(
            f"Expected an attribute name or '(' at position {token.pos}, found {_describe(token)}."
        )

    def parse_path(self) -> tuple[AttrPath, _Token]:
        token = self.advance()
        if token.kind != "word" or token.text.lower() in _KEYWORDS or token.text[0] == ".":
            raise InvalidFilter(
                f"Expected an attribute name at position {token.pos}, found {_describe(token)}."
            )
        path = _attr_path(token.text, token.pos)
        if self.in_brackets and (path.urn is not None or path.sub is not None):
            raise InvalidFilter(
                f"Inside '[...]' name a sub-attribute alone, not {token.text!r} "
                f"(position {token.pos})."
            )
        return path, token

    def parse_attr_exp(self) -> Filter:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise InvalidFilter(
                f"The filter has too many comparisons (at most {MAX_TERMS}) "
                f"at position {self.peek().pos}."
            )
        path, token = self.parse_path()
        if self.at_punct("["):
            value_filter = self.parse_value_filter(path, token)
            follow = self.peek()
            if follow.kind == "word" and follow.text.startswith("."):
                # emails[type eq "work"].value eq "x": the condition applies to the same element.
                self.advance()
                sub = _sub_name(follow)
                return ValuePath(path, And(value_filter, self.parse_operation(AttrPath(None, sub))))
            return ValuePath(path, value_filter)
        return self.parse_operation(path)

    def parse_value_filter(self, path: AttrPath, token: _Token) -> Filter:
        bracket = self.advance()
        if self.in_brackets:
            raise InvalidFilter(f"Value filters cannot be nested (position {bracket.pos}).")
        if path.sub is not None:
            raise InvalidFilter(
                f"A value filter follows the attribute, not its sub-attribute: {token.text!r} "
                f"at position {token.pos}."
            )
        self.enter(bracket)
        self.in_brackets = True
        inner = self.parse_or()
        self.in_brackets = False
        self.expect_punct("]", f"to close the '[' at position {bracket.pos}")
        self.depth -= 1
        return inner

    def parse_operation(self, path: AttrPath) -> Filter:
        token = self.advance()
        op = token.text.lower() if token.kind == "word" else ""
        if op == "pr":
            return Present(path)
        if op in COMPARE_OPS:
            return Compare(path, op, self.parse_value(op))
        raise InvalidFilter(
            f"Expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) at position "
            f"{token.pos}, found {_describe(token)}."
        )

    def parse_value(self, op: str) -> str | bool | int | float | None:
        token = self.advance()
        if token.kind == "string":
            return _decode_string(token)
        if token.kind == "word":
            lowered = token.text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if lowered == "null":
                return None
            if _NUMBER_RE.match(token.text):
                return _number(token)
        raise InvalidFilter(
            f"Expected a value (a JSON string, number, true, false or null) after {op!r} at "
            f"position {token.pos}, found {_describe(token)}."
        )


def _sub_name(token: _Token) -> str:
    name = token.text[1:]
    if not _NAME_RE.match(name):
        raise InvalidFilter(f"Invalid sub-attribute {token.text!r} at position {token.pos}.")
    return name


def _number(token: _Token) -> int | float:
    try:
        if re.fullmatch(r"-?[0-9]+", token.text):
            return int(token.text)
        number = float(token.text)
    except ValueError:
        raise InvalidFilter(f"Invalid number {token.text!r} at position {token.pos}.") from None
    if not math.isfinite(number):
        raise InvalidFilter(f"Number out of range at position {token.pos}.")
    return number


def parse_filter(text: str) -> Filter:
    """Parse a ``filter`` parameter (RFC 7644 §3.4.2.2); raise :class:`InvalidFilter`.

    The trees are immutable, so the last few are kept: a request's filter is parsed once
    though the lookup of :mod:`django_provisioning.scim.lookup`, the grammar check and the
    ``FilterSet`` each ask for it (a refused filter is not kept; at most 64 of
    :data:`MAX_FILTER_LENGTH`). They are kept per generation of the configured extensions,
    which decide how a schema URN is split (:mod:`~django_provisioning.schema.registry`)."""
    if not isinstance(text, str):
        raise InvalidFilter("The filter must be a string.")
    return _parse_filter(text, user_extensions.generation)


@functools.lru_cache(maxsize=64)
def _parse_filter(text: str, generation: int) -> Filter:
    # *generation* is part of the key only: a change of USER_SCHEMA_EXTENSIONS starts afresh.
    parser = _Parser(text)
    if parser.peek().kind == "end":
        raise InvalidFilter("The filter is empty.")
    expr = parser.parse_or()
    parser.expect_end()
    return expr


def parse_attr_path(text: str) -> AttrPath:
    """Parse a bare attribute path such as a ``sortBy`` value; raise :class:`InvalidFilter`."""
    parser = _Parser(text)
    path, _token = parser.parse_path()
    parser.expect_end()
    return path


def parse_patch_path(text: str) -> PatchPath:
    """Parse a PATCH ``path`` (RFC 7644 §3.5.2: ``attrPath / valuePath [subAttr]``).

    Raises :class:`InvalidPath` with the parser's message as ``detail``.
    """
    try:
        parser = _Parser(text)
        if parser.peek().kind == "end":
            raise InvalidFilter("The path is empty.")
        path, token = parser.parse_path()
        value_filter: Filter | None = None
        sub: str | None = None
        if parser.at_punct("["):
            value_filter = parser.parse_value_filter(path, token)
            follow = parser.peek()
            if follow.kind == "word" and follow.text.startswith("."):
                parser.advance()
                sub = _sub_name(follow)
        end = parser.peek()
        if end.kind != "end":
            raise InvalidFilter(
                f"Unexpected {_describe(end)} at position {end.pos}: expected the end of the path."
            )
    except InvalidFilter as exc:
        raise InvalidPath(exc.detail) from None
    return PatchPath(path, value_filter, sub)
