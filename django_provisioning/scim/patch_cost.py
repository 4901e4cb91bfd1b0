"""A PatchOp read, and the work it asks for counted, before any of it is done.

Private to :mod:`.patch` and :mod:`.patch_targets`: the envelope (``schemas``, at most
:data:`MAX_OPERATIONS` ``Operations``, 413 above) and the work meter. Each limit on its own is
harmless -- 1000 operations, 1000 values per attribute, 100 terms per filter -- but their
product is not: 1000 operations of
``replace emails[value eq "..."].display`` on a user with 999 e-mails cost a million element
comparisons (15 s of CPU), and 40-term filters timed the worker out. So the request's total is
bounded by one setting, ``SCIM_PATCH_MAX_WORK``, and the answer above it is ``400 tooMany``.

The unit is one element looked at by one filter term. An operation costs::

    max(1, elements examined) * max(1, terms of its path's value filter)

*Elements examined* is the number of values the targeted multi-valued attribute may hold when
the operation runs -- the values it has before the request, plus those every earlier operation
could have added, at most ``MAX_VALUES`` -- plus the values the operation sends; a singular
attribute is one element. ``remove`` with a ``value`` list multiplies the elements by the
listed values it must compare sub-attribute by sub-attribute (those without a ``value`` key),
plus one for the set lookup of the others. A no-path operation costs what its attributes
cost as separate operations. An operation on an attribute of :data:`SET_OPERATIONS` (a
group's ``members``, once ``/Groups`` exists) is one set operation, whatever its size, and
costs 1: its implementation must then be a fixed number of set operations, not a loop.

The count is an upper bound computed from the operations' parsed paths and the sizes of their
values, so a request over the limit is refused before the document is copied or any element
is compared, and the database is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..schema.definitions import Attribute
from ..schema.document import MAX_VALUES, UNBOUNDED
from .errors import InvalidSyntax, PayloadTooLarge, TooMany
from .filtering import nodes
from .messages import PATCH_OP_SCHEMA

MAX_OPERATIONS = 1000

#: Multi-valued attributes changed with set operations (not element by element): one unit.
SET_OPERATIONS = UNBOUNDED


def member(data: dict[str, Any], name: str) -> tuple[bool, Any]:
    """(present, value) of member *name*, matched case-insensitively."""
    if name in data:
        return True, data[name]
    for key, value in data.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return True, value
    return False, None


def operations_of(body: Any) -> list[Any]:
    """The ``Operations`` list of a PatchOp body; invalidSyntax or 413 for a bad envelope."""
    if not isinstance(body, dict):
        raise InvalidSyntax("A PATCH body must be a PatchOp JSON object.")
    present, schemas = member(body, "schemas")
    if present and (
        not isinstance(schemas, list)
        or PATCH_OP_SCHEMA.lower() not in {s.lower() for s in schemas if isinstance(s, str)}
    ):
        raise InvalidSyntax(f"'schemas' must be [\"{PATCH_OP_SCHEMA}\"].")
    _present, operations = member(body, "Operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntax("'Operations' must be a non-empty list.")
    if len(operations) > MAX_OPERATIONS:
        raise PayloadTooLarge(f"At most {MAX_OPERATIONS} operations are accepted per request.")
    return operations


class Target(Protocol):
    """What :class:`.patch_targets.Target` offers the meter."""

    @property
    def urn(self) -> str | None: ...
    @property
    def attr(self) -> Attribute | None: ...
    @property
    def value_filter(self) -> nodes.Filter | None: ...
    @property
    def sub(self) -> Attribute | None: ...


def filter_terms(expr: nodes.Filter | None) -> int:
    """The comparisons (``eq``, ``pr``...) in a value filter; 0 without one."""
    terms = 0
    pending = [expr] if expr is not None else []
    while pending:
        node = pending.pop()
        if isinstance(node, (nodes.And, nodes.Or)):
            pending += [node.left, node.right]
        elif isinstance(node, nodes.Not):
            pending.append(node.expr)
        elif isinstance(node, nodes.ValuePath):
            pending.append(node.filter)
        else:
            terms += 1
    return terms


def _sent(value: Any) -> int:
    """How many values an operation sends (a lone value counts as a list of one)."""
    return len(value) if isinstance(value, list) else 1


def _unmatched_by_value(value: Any) -> int:
    """Values of a ``remove`` list compared sub-attribute by sub-attribute (no ``value`` key)."""
    items = value if isinstance(value, list) else [value]
    return sum(1 for item in items if isinstance(item, dict) and "value" not in item)


class WorkMeter:
    """Adds up the cost of a request's operations; raises TooMany past *limit*."""

    def __init__(
        self,
        document: dict[str, Any],
        limit: int,
        resolve: Callable[[str], Target | None],
    ) -> None:
        self.document = document
        self.limit = limit
        self.resolve = resolve  # a no-path value's key -> its target (None: ignored)
        self.total = 0
        self.bounds: dict[tuple[str | None, str], int] = {}

    def count(self, op: str, target: Target | None, value: Any) -> None:
        """Add one operation (already parsed and resolved) to the total."""
        if target is not None and target.attr is None:
            self.count_schema(op, target.urn, value)
        else:
            self.add(self.cost(op, target, value))

    def add(self, units: int) -> None:
        self.total += units
        if self.total > self.limit:
            raise TooMany(
                f"This PATCH asks for more work than the service provider does in one request "
                f"(over {self.limit} units: operations x values examined x filter terms, "
                f"SCIM_PATCH_MAX_WORK). Send fewer operations per request, or simpler filters."
            )

    def count_schema(self, op: str, urn: str | None, value: Any) -> None:
        """A no-path operation: each attribute of its value object, as its own operation.

        Counted as the keys are resolved, so a value object of many keys stops at the limit.
        """
        self.add(1)
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            if isinstance(key, str):
                self.count(op, self.resolve(f"{urn}:{key}" if urn else key), item)

    def cost(self, op: str, target: Target | None, value: Any) -> int:
        """The units of one operation on one attribute; updates the values it may hold."""
        attr = target.attr if target is not None else None
        if target is None or attr is None or not attr.multi_valued:
            return 1  # ignored (readOnly, a vendor extension), or a singular attribute
        if attr.name in SET_OPERATIONS:
            return 1
        key = (target.urn, attr.name)
        held = self.held(key)
        terms = max(1, filter_terms(target.value_filter))
        whole = target.value_filter is None and target.sub is None
        if op == "remove":
            if not whole:
                return max(1, held) * terms
            if value in (None, [], {}):
                return 1
            if attr.type != "complex":
                return max(1, held * _sent(value))
            return max(1, held * (1 + _unmatched_by_value(value)) + _sent(value))
        if value is None:
            return max(1, held) * terms
        # At most one element is added through a value filter or a sub-attribute.
        sent = _sent(value) if whole else 1
        self.bounds[key] = min(MAX_VALUES, sent if whole and op == "replace" else held + sent)
        return max(1, held + sent) * terms

    def held(self, key: tuple[str | None, str]) -> int:
        """The most values attribute *key* may hold now (before this operation)."""
        if key not in self.bounds:
            urn, name = key
            container = self.document.get(urn) if urn else self.document
            values = container.get(name) if isinstance(container, dict) else None
            self.bounds[key] = len(values) if isinstance(values, list) else 0
        return self.bounds[key]
