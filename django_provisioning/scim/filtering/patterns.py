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
"""

from __future__ import annotations

from typing import Any

from django.db.models import Value
from django.db.models.functions import Left, Reverse, Right, StrIndex
from django.db.models.lookups import Contains, EndsWith, Exact, GreaterThan, StartsWith


class ExactStartsWith(StartsWith):
    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if connection.vendor == "postgresql":
            return super().as_sql(compiler, connection)
        return compiler.compile(Exact(Left(self.lhs, len(self.rhs)), Value(self.rhs)))


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
