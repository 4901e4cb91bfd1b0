"""An IdP's lookup of one user, ``filter=userName eq "x"`` or ``externalId eq "x"``, in one
statement.

Before every create, and whenever they reconcile, IdPs look a user up by ``userName`` (Okta,
OneLogin, JumpCloud) or ``externalId`` (Microsoft Entra ID). Through the general path
(:mod:`.filtering`, then :mod:`.paging`) that takes three statements: the matches counted
for ``totalResults``, the page's keys, the row by key. Such a filter matches at most a few
rows, so this reads up to two of them at once, with a query compiled once
(:mod:`django_provisioning.compiled`): when fewer than two match, they are the whole result
and their number is ``totalResults``; when two or more do (one ``externalId`` shared by
several users), the request takes the general path, which orders and counts them.

The filter is resolved by the compiler's own :class:`~.filtering.columns.Resolver`, and the
operand folded by the column's own rule, so this selects what the compiled filter selects
(``tests/scim/test_lookup.py`` holds the two paths side by side).
"""

from __future__ import annotations

from ..compiled import CompiledQuery, Slot
from ..models import Connection, ExternalIdentity
from .errors import InvalidFilter
from .filtering.columns import Column, Resolver
from .filtering.nodes import Compare
from .filtering.parser import parse_filter


def _matches(column: str) -> CompiledQuery:
    return CompiledQuery(
        ExternalIdentity,
        lambda connection_id, value: ExternalIdentity.objects.filter(
            connection_id=connection_id, deleted_at=None, **{column: value}
        ).select_related("user")[:2],
        Slot.of(ExternalIdentity, "connection"),
        Slot.of(ExternalIdentity, column),
    )


#: A link row column that an ``eq`` compares exactly -> its lookup, served by the index
#: ``(connection, user_name_normalized)`` (unique among all of a connection's rows, deleted
#: ones too: a userName finds one at most) or ``(connection, external_id)``.
MATCHES: dict[str, CompiledQuery] = {
    column: _matches(column) for column in ("user_name_normalized", "external_id")
}


def key_lookup(text: str, connection: Connection) -> tuple[str, str] | None:
    """``(column, value)`` when the filter *text* is one ``eq`` of ``userName`` or
    ``externalId`` with a string that is not empty; None for any other filter. A filter
    that does not parse raises the parser's ``invalidFilter``, as the general path would; an
    attribute that does not resolve is the general path's to answer (an error, or in a root
    ``/.search`` an attribute Users lack, which compares false)."""
    expr = parse_filter(text)
    if not isinstance(expr, Compare) or expr.op != "eq":
        return None
    if not isinstance(expr.value, str) or not expr.value:
        return None  # "" is no value, a number compares as its text: the general path's
    try:
        target = Resolver(connection).resolve(expr.path)
    except InvalidFilter:
        return None
    if not isinstance(target, Column) or target.lhs not in MATCHES:
        return None
    if target.kind == "folded":
        assert target.fold is not None
        return target.lhs, target.fold(expr.value)
    if target.kind == "text" and target.attr.case_exact and target.digest is None:
        return target.lhs, expr.value
    return None


def few_matches(connection: Connection, column: str, value: str) -> list[ExternalIdentity] | None:
    """The connection's live link rows whose *column* is *value*, when fewer than two;
    None when there are more (the caller counts and orders them the general way)."""
    rows = list(MATCHES[column].run(connection.pk, value))
    return rows if len(rows) < 2 else None
