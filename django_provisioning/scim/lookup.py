"""An IdP's lookup of one user, ``filter=userName eq "x"``, ``externalId eq "x"`` or
``emails.value eq "x"``, in one statement.

Before every create, and whenever they reconcile, IdPs look a user up by ``userName`` (Okta,
OneLogin, JumpCloud), ``externalId`` (Microsoft Entra ID) or e-mail address. Through the
general path (:mod:`.filtering`, then :mod:`.paging`) that takes three statements: the
matches counted for ``totalResults``, the page's keys, the row by key. Such a filter matches
at most a few rows, so this reads up to two of them at once, with a query compiled once
(:mod:`django_provisioning.compiled`): when fewer than two match, they are the whole result
and their number is ``totalResults``; when two or more do (one ``externalId`` or e-mail
shared by several users), the request takes the general path, which orders and counts them.

The filter is resolved by the compiler's own :class:`~.filtering.columns.Resolver`, and the
operand folded by the column's own rule, so this selects what the compiled filter selects
(``tests/scim/test_lookup.py`` holds the two paths side by side).

A group is looked up the same way, before an IdP creates it: ``/Groups?filter=displayName eq
"x"`` (Okta, Entra ID) or ``externalId eq "x"``. Its condition is the compiled filter's own
(:func:`.filtering.compiler.filter_to_q`: a case fold no compiled-once query holds), read with
``LIMIT 2`` instead of counted, keyed and read (:func:`group_key_lookup`, :func:`few_groups`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from ..compiled import CompiledQuery, Slot
from ..models import Connection, ExternalGroup, ExternalIdentity, ExternalIdentityValue
from ..value_index import cut, digest
from .errors import InvalidFilter
from .filtering.columns import Column, MultiValued, Resolver
from .filtering.compiler import filter_to_q
from .filtering.group_columns import GroupResolver
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

#: The link rows holding a value index row (``emails``, ``name.givenName``, ...) whose folded
#: value is the operand: the ``(attribute, value_normalized)`` index finds the value rows,
#: then each link row by its key. A value stored cut is compared whole by its digest, as
#: the compiled filter compares it (:func:`.filtering.compiler._whole_value`).
VALUE_MATCHES = CompiledQuery(
    ExternalIdentity,
    lambda connection_id, attribute, value, value_digest: ExternalIdentity.objects.filter(
        connection_id=connection_id,
        deleted_at=None,
        pk__in=ExternalIdentityValue.objects.filter(
            attribute=attribute, value_normalized=value, value_digest=value_digest
        ).values("identity_id"),
    ).select_related("user")[:2],
    Slot.of(ExternalIdentity, "connection"),
    Slot.of(ExternalIdentityValue, "attribute"),
    Slot.of(ExternalIdentityValue, "value_normalized"),
    Slot.of(ExternalIdentityValue, "value_digest"),
)


@dataclass(frozen=True)
class Key:
    """A lookup: its compiled query, and the values it is run with after the connection's."""

    query: CompiledQuery
    values: tuple[str, ...]


def single_eq(text: str) -> tuple[Compare, str] | None:
    """The filter *text* and its operand when it is one ``eq`` with a string that is not
    empty, else None ("" is no value, a number compares as its text: the general path's). A
    filter that does not parse raises the parser's ``invalidFilter``, as the general path
    would."""
    expr = parse_filter(text)
    if not isinstance(expr, Compare) or expr.op != "eq":
        return None
    if not isinstance(expr.value, str) or not expr.value:
        return None
    return expr, expr.value


def key_lookup(text: str, connection: Connection) -> Key | None:
    """The :class:`Key` of the filter *text* when it is one ``eq`` of ``userName``,
    ``externalId`` or a value index column compared without case (``emails.value``,
    ``emails``, ``name.givenName``, ...) with a string that is not empty; None for any other
    filter. A filter that does not parse raises the parser's ``invalidFilter``, as the
    general path would; an attribute that does not resolve is the general path's to answer
    (an error, or in a root ``/.search`` an attribute Users lack, which compares false)."""
    found = single_eq(text)
    if found is None:
        return None
    expr, value = found
    try:
        target = Resolver(connection).resolve(expr.path)
    except InvalidFilter:
        return None
    if isinstance(target, MultiValued):
        return value_key(target, value)
    if not isinstance(target, Column) or target.lhs not in MATCHES:
        return None
    if target.kind == "folded":
        assert target.fold is not None
        return Key(MATCHES[target.lhs], (target.fold(value),))
    if target.kind == "text" and target.attr.case_exact and target.digest is None:
        return Key(MATCHES[target.lhs], (value,))
    return None


def value_key(target: MultiValued, operand: str) -> Key | None:
    """An ``eq`` on the value index rows of *target* (``emails`` compares ``emails.value``),
    when they are compared folded; None for a case-exact value (no index serves it) and for
    rows that are not the value index (a user's groups)."""
    column = target.sub or target.columns.get("value")
    if (
        target.index_attribute is None
        or column is None
        or column.kind != "folded"
        or column.lhs != "value_normalized"
        or column.digest != "value_digest"
        or column.attr.type != "string"
    ):
        return None
    assert column.fold is not None
    folded = column.fold(operand)
    return Key(VALUE_MATCHES, (target.index_attribute, cut(folded), digest(folded)))


def few_matches(connection: Connection, key: Key) -> list[ExternalIdentity] | None:
    """The connection's live link rows that *key* finds, when fewer than two; None when
    there are more (the caller counts and orders them the general way)."""
    rows = list(key.query.run(connection.pk, *key.values))
    return rows if len(rows) < 2 else None


#: The Group columns an IdP looks a group up by: ``displayName`` (case-insensitive: served
#: by the ``(connection_id, UPPER(display_name))`` index on PostgreSQL, a scan of the
#: connection's groups on SQLite) and ``externalId`` (case-exact, a unique index).
GROUP_KEYS = ("display_name", "external_id")


def group_key_lookup(text: str, connection: Connection) -> Q | None:
    """The condition of the Groups filter *text* when it is one ``eq`` of ``displayName`` or
    ``externalId`` with a string that is not empty, compiled as the general path compiles
    it; None for any other filter. A filter that does not parse raises ``invalidFilter``."""
    found = single_eq(text)
    if found is None:
        return None
    expr, _value = found
    resolver = GroupResolver(connection)
    try:
        target = resolver.resolve(expr.path)
    except InvalidFilter:
        return None
    if not isinstance(target, Column) or target.lhs not in GROUP_KEYS:
        return None
    return filter_to_q(expr, connection, resolver=resolver)


def few_groups(connection: Connection, condition: Q) -> list[ExternalGroup] | None:
    """The connection's groups that meet *condition*, when fewer than two; None when there
    are more (the caller counts and orders them the general way)."""
    rows = list(ExternalGroup.objects.filter(connection=connection).filter(condition)[:2])
    return rows if len(rows) < 2 else None
