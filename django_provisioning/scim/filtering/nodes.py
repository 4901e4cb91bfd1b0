"""The SCIM filter tree (RFC 7644 §3.4.2.2): the node types every part of filtering shares.

:mod:`.parser` builds these nodes from text, :mod:`.evaluate` tests them against a document,
:mod:`.compiler` turns them into a ``Q``. ``Filter`` is the union of the node types; an
:class:`AttrPath`'s ``urn`` is the canonical schema id when it names a known schema.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def path_name(path: AttrPath) -> str:
    """The attribute path as a client would write it, for error messages."""
    name = f"{path.attr}.{path.sub}" if path.sub else path.attr
    return f"{path.urn}:{name}" if path.urn else name
