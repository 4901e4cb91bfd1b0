"""SCIM filter expressions (RFC 7644 §3.4.2.2): text -> AST, and in-memory evaluation.

API CONTRACT (other modules import exactly these names):

- ``AttrPath(urn, attr, sub)``; ``Compare(path, op, value)``; ``Present(path)``;
  ``And(left, right)``; ``Or(left, right)``; ``Not(expr)``; ``ValuePath(path, filter)``.
  ``Filter`` is the union of the node types.
- ``parse_filter(text) -> Filter`` raises :class:`~.errors.InvalidFilter`.
- ``parse_patch_path(text) -> PatchPath`` raises :class:`~.errors.InvalidPath`.
- ``matches(expr, resource, resource_type) -> bool`` evaluates against a SCIM document dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from .errors import InvalidFilter, InvalidPath  # noqa: F401
from .schemas import ResourceType


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


Filter = Union[Compare, Present, And, Or, Not, ValuePath]


@dataclass(frozen=True)
class PatchPath:
    """A PATCH ``path``: ``attr``, ``attr.sub``, ``attr[filter]`` or ``attr[filter].sub``."""

    path: AttrPath
    value_filter: Filter | None = None
    sub: str | None = None


def parse_filter(text: str) -> Filter:
    raise NotImplementedError


def parse_patch_path(text: str) -> PatchPath:
    raise NotImplementedError


def matches(expr: Filter, resource: dict[str, Any], resource_type: ResourceType) -> bool:
    raise NotImplementedError
