"""SCIM filter expressions (RFC 7644 §3.4.2.2): text -> AST, and in-memory evaluation.

API CONTRACT (other modules import exactly these names):

- ``AttrPath(urn, attr, sub)``; ``Compare(path, op, value)``; ``Present(path)``;
  ``And(left, right)``; ``Or(left, right)``; ``Not(expr)``; ``ValuePath(path, filter)``.
  ``Filter`` is the union of the node types.
- ``parse_filter(text) -> Filter`` raises :class:`~.errors.InvalidFilter`.
- ``parse_patch_path(text) -> PatchPath`` raises :class:`~.errors.InvalidPath`.
- ``matches(expr, resource, resource_type) -> bool`` evaluates against a SCIM document dict.

Also here: ``parse_attr_path(text) -> AttrPath`` (``sortBy``) and
``matches_element(expr, element, attribute)``, which evaluates the inner filter of a value path
(``emails[type eq "work"]``) against one element of a multi-valued attribute.

The parser (:mod:`.filter_parser`) is a hand-written tokenizer and recursive-descent parser,
and the evaluator lives in :mod:`.filter_eval`; both are reached through the functions here.
Precedence is ``not`` > ``and`` > ``or`` (§3.4.2.2, "grouping operators"); ``and``/``or``
associate to the left. Keywords, operators and ``true``/``false``/``null`` are case-insensitive
(ABNF literals are). Attribute names are kept as written; a schema URN prefix is rewritten to
the known schema id it names (RFC 7643 §2.1: URNs are case-insensitive), an unknown URN is kept
as written.

Hostile input raises only :class:`InvalidFilter` / :class:`InvalidPath`: the text is capped at
:data:`MAX_FILTER_LENGTH` characters, grouping at :data:`MAX_DEPTH` levels and the number of
attribute expressions at :data:`MAX_TERMS`, so neither recursion nor a query grows unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...schema.definitions import Attribute, ResourceType
from ..errors import InvalidFilter, InvalidPath  # noqa: F401  (part of this module's API)

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 32
MAX_TERMS = 100

COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})


@dataclass(frozen=True)
class AttrPath:
    """``[urn:]attr[.sub]``; ``urn`` is the canonical schema id when it names a known schema."""

    urn: str | None
    attr: str
    sub: str | None = None


@dataclass(frozen=True)
class Compare:
    path: AttrPath
    op: str  # eq ne co sw ew gt ge lt le, lower-case
    value: str | bool | int | float | None


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    expr: Filter


@dataclass(frozen=True)
class ValuePath:
    """``emails[type eq "work"]``: *filter* applies to one element's sub-attributes.

    ``emails[type eq "work"].value eq "x"`` is parsed as
    ``ValuePath(emails, And(type eq "work", value eq "x"))``.
    """

    path: AttrPath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """A PATCH ``path``: ``attr``, ``attr.sub``, ``attr[filter]`` or ``attr[filter].sub``."""

    path: AttrPath
    value_filter: Filter | None = None
    sub: str | None = None


def parse_filter(text: str) -> Filter:
    """Parse a ``filter`` parameter (RFC 7644 §3.4.2.2); raise :class:`InvalidFilter`."""
    from .parser import filter_from_text

    return filter_from_text(text)


def parse_attr_path(text: str) -> AttrPath:
    """Parse a bare attribute path such as a ``sortBy`` value; raise :class:`InvalidFilter`."""
    from .parser import attr_path_from_text

    return attr_path_from_text(text)


def parse_patch_path(text: str) -> PatchPath:
    """Parse a PATCH ``path`` (RFC 7644 §3.5.2: ``attrPath / valuePath [subAttr]``).

    Raises :class:`InvalidPath` whose ``detail`` says what is wrong and where.
    """
    from .parser import patch_path_from_text

    return patch_path_from_text(text)


def flatten(expr: And | Or) -> tuple[list[Filter], bool]:
    """The operands of a chain of one connective, left to right; True for ``and``.

    ``a and b and c`` parses as ``And(And(a, b), c)``; walking the chain with an explicit
    stack keeps evaluation and compilation of long chains free of deep recursion.
    """
    kind = type(expr)
    operands: list[Filter] = []
    stack: list[Filter] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, kind):
            stack.append(node.right)  # type: ignore[union-attr]
            stack.append(node.left)  # type: ignore[union-attr]
        else:
            operands.append(node)
    return operands, kind is And


def matches(expr: Filter, resource: dict[str, Any], resource_type: ResourceType) -> bool:
    """Evaluate *expr* against a canonical SCIM document (see :mod:`.filter_eval`)."""
    from .evaluate import evaluate

    return evaluate(expr, resource, resource_type)


def matches_element(expr: Filter, element: dict[str, Any], attribute: Attribute | None) -> bool:
    """Evaluate a value path's inner filter against one element of *attribute*."""
    from .evaluate import evaluate_element

    return evaluate_element(expr, element, attribute)
