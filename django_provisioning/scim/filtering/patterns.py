"""Case-exact ``sw``, ``ew`` and ``co`` as the database can serve them from an index.

PostgreSQL's ``LIKE`` is case-sensitive, and ``col LIKE 'abc%'`` / ``'%abc'`` / ``'%abc%'`` are
what its pattern-ops btree and pg_trgm GIN indexes serve (migration ``0012``): there the lookups
are Django's ``startswith`` and ``contains`` (the operand escaped for ``LIKE``). An ``ew`` is
``REVERSE(col) LIKE 'cba%'`` there (:class:`ReversedEndsWith`), a prefix search on the reversed
column's btree (migration ``0016``): a trigram index would intersect the posting lists of every
trigram in the operand, and a common ending (``@example.com``) is in every row.
SQLite's and MySQL's ``LIKE`` ignore case, so elsewhere the same condition is written with
positions (``LEFT(col, n) = 'abc'``, ``RIGHT(...)``, ``INSTR(col, 'abc') > 0``): correct, and a
scan of the rows the other conditions leave, as before.

A prefix (``sw``) on SQLite is also bounded as a range, ``col >= 'abc' AND col < 'abd'``
(:func:`with_prefix_range`), which the column's btree serves: SQLite only serves ``LIKE`` from
a ``NOCASE`` index, and its ``BINARY`` order is code point order, so the range holds exactly
the strings that start with the prefix (the ``LIKE`` or ``LEFT`` stays, as the exact test).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Value
from django.db.models.functions import Left, Reverse, Right, StrIndex
from django.db.models.lookups import (
    Contains,
    EndsWith,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    StartsWith,
)

_SURROGATES = range(0xD800, 0xE000)


def prefix_successor(prefix: str) -> str | None:
    """The least string greater than every string that starts with *prefix*, in code point
    order, or None when there is none (the prefix ends with U+10FFFF)."""
    last = ord(prefix[-1]) + 1
    if last in _SURROGATES:
        last = _SURROGATES.stop  # not encodable: the next character is U+E000
    return None if last > 0x10FFFF else prefix[:-1] + chr(last)


def with_prefix_range(lookup: Any, compiler: Any, connection: Any, sql: str, params: Any) -> Any:
    """*sql* (a prefix test of ``lookup.lhs``), on SQLite ANDed with the range of strings
    that start with ``lookup.rhs``, for the column's btree to serve."""
    prefix = lookup.rhs
    upper = prefix_successor(prefix) if isinstance(prefix, str) and prefix else None
    if connection.vendor != "sqlite" or upper is None:
        return sql, params
    low_sql, low_params = compiler.compile(GreaterThanOrEqual(lookup.lhs, prefix))
    high_sql, high_params = compiler.compile(LessThan(lookup.lhs, upper))
    return f"({low_sql} AND {high_sql} AND {sql})", (*low_params, *high_params, *params)


class RangedStartsWith(StartsWith):
    """Django's ``startswith`` (``LIKE 'abc%'``), bounded by a range on SQLite: for a column
    that holds folded values, compared with a folded operand."""

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return with_prefix_range(self, compiler, connection, *super().as_sql(compiler, connection))


class ExactStartsWith(StartsWith):
    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if connection.vendor == "postgresql":
            return super().as_sql(compiler, connection)
        sql, params = compiler.compile(Exact(Left(self.lhs, len(self.rhs)), Value(self.rhs)))
        return with_prefix_range(self, compiler, connection, sql, params)


class ReversedEndsWith(EndsWith):
    """``col LIKE '%abc'`` written as ``REVERSE(col) LIKE 'cba%'`` on PostgreSQL, which its
    ``REVERSE(col) text_pattern_ops`` btree serves; Django's ``endswith`` elsewhere."""

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if connection.vendor == "postgresql" and isinstance(self.rhs, str):
            return compiler.compile(StartsWith(Reverse(self.lhs), self.rhs[::-1]))
        return super().as_sql(compiler, connection)


class ExactEndsWith(ReversedEndsWith):
    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if connection.vendor == "postgresql":
            return super().as_sql(compiler, connection)
        return compiler.compile(Exact(Right(self.lhs, len(self.rhs)), Value(self.rhs)))


class ExactContains(Contains):
    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if connection.vendor == "postgresql":
            return super().as_sql(compiler, connection)
        return compiler.compile(GreaterThan(StrIndex(self.lhs, Value(self.rhs)), 0))


#: SCIM operator -> its case-exact lookup.
CASE_EXACT = {"sw": ExactStartsWith, "ew": ExactEndsWith, "co": ExactContains}
