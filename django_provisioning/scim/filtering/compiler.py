"""SCIM filters and ``sortBy`` compiled to Django ORM expressions over ``ExternalIdentity``
(and over ``ExternalGroup`` with the resolver of :mod:`.group_columns`).

Public API::

    filter_to_q(expr: Filter, connection: Connection) -> Q
    order_by_for(sort_by: str | None, connection: Connection, *, descending: bool = False)
        -> list[OrderBy]

The Q applies to ``ExternalIdentity.objects.filter(connection=c, deleted_at=None)``; the caller
scopes by connection (a filter only narrows). The semantics are those of :mod:`.evaluate`
(read its docstring): ``ne`` is the complement of ``eq`` and ``not`` the complement of its
filter, both true when the attribute is absent. Every leaf compiles to a condition that is
never SQL NULL (a nullable operand is guarded by ``IS NOT NULL``), so ``NOT`` is the plain
complement and absent JSON keys do not vanish from ``ne`` results.

Where each attribute lives (RFC 7643 §4.1, §4.3 names):

- ``id`` -> ``scim_id`` (UUID; a value that is no UUID matches nothing; eq/ne/pr only),
  ``externalId`` -> ``external_id`` (caseExact), ``userName`` -> ``user_name_normalized``
  compared with the adapter's normalised operand (its unique index serves ``eq``),
  ``meta.created``/``meta.lastModified`` -> ``created_at``/``updated_at``,
  ``meta.resourceType`` is the constant ``"User"``.
- ``emails``, ``phoneNumbers``, ``ims``, ``photos``, ``entitlements``, ``roles`` ->
  ``pk IN (SELECT identity_id FROM ExternalIdentityValue ...)`` (one uncorrelated subquery per
  clause, served by the value indexes; a value path keeps all its conditions on the same
  element). ``value`` compares ``value_normalized`` with a
  casefolded operand, so ``eq`` can use the ``(attribute, value_normalized)`` index.
- Singular string attributes and sub-attributes (``title``, ``name.givenName``, the
  enterprise ``department``, ``manager.value``; mapped to a user model field or not) ->
  the ``IN`` subquery over their ``ExternalIdentityValue`` row
  (:mod:`django_provisioning.value_index`), compared as ``emails.value`` is (``value`` if
  the attribute is caseExact). ``eq`` compares
  whole values, however long (the stored start and a digest); ``ew`` does not match a value
  the index holds the start of only; ``co``, ``sw``, ``gt``..``le`` see its first 1024
  characters.
- A string attribute the adapter maps to a non-text model field (an integer, a boolean) ->
  ``user__<field>``, compared with the field's converted operand.
- ``groups`` -> ``EXISTS`` over this connection's ``ExternalGroup`` rows of the user's groups.
- Any other singular attribute (``active``) -> a key of the JSON ``document`` column, or the
  user model field it is mapped to.

``sortBy`` reads where the value is stored (the mapped user model field, else the document
key), not the value index.

Not filterable (:class:`InvalidFilter` naming the attribute): ``password``, ``addresses``,
``x509Certificates``, ``meta.location``, ``meta.version``, ``groups.$ref``, ``groups`` when the
user model has no ``groups`` field, unknown attributes, sub-attributes and schema URNs.

Resolution (attribute -> storage) lives in :mod:`.columns`; this module turns the
boolean structure and the operators into ``Q`` objects and lookup expressions.

Case: ``userName`` and the indexed values are compared in the form they are stored in
(``userName``: ``adapter.normalize_user_name``, the one rule of the conflict check and every
lookup; values: casefolded, in Python, so ``displayName sw "élo"`` finds "Élodie" on every
database). Other case-insensitive text (``sortBy`` on model fields and JSON keys) is compared
through :class:`~django_provisioning.db.CaseFold` (``eq``, ``co``, ``sw``, ``ew``: ``UPPER`` on
both sides, as Django's ``iexact``, so a host's ``UPPER(column)`` index still serves ``eq``) and
:class:`~django_provisioning.db.CaseFoldLower` (``gt``..``le`` and ``sortBy``: ``LOWER``); on
SQLite, whose ``UPPER``, ``LOWER`` and ``LIKE`` fold ASCII only, both are a real case fold
(Python's ``str.casefold``).

Limits, by design: ``gt``/``lt`` on strings follow the database collation; the value index
cannot tell an absent ``primary`` from ``false``.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from functools import reduce
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db.models import F, JSONField, OrderBy, Q, Subquery, Value
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import NullIf
from django.db.models.lookups import (
    Contains,
    EndsWith,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    StartsWith,
)

from ...db import CaseFold, CaseFoldLower
from ...value_index import cut, digest
from ..errors import InvalidFilter, UnknownAttribute
from .columns import Column, ComplexValue, MultiValued, Resolver, Target
from .evaluate import compare_scalar, prepare_operand
from .nodes import Compare, Filter, Not, Present, ValuePath, flatten
from .parser import parse_attr_path
from .patterns import CASE_EXACT, RangedStartsWith, ReversedEndsWith

if TYPE_CHECKING:
    from ...models import Connection

__all__ = ["filter_to_q", "order_by_for"]

_TRUE = Q(pk__isnull=False)
_FALSE = Q(pk__in=[])
_ORDER_LOOKUPS = {"eq": "exact", "gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}
_EXPRESSION_LOOKUPS: dict[str, Any] = {
    "exact": Exact,
    "contains": Contains,
    "startswith": StartsWith,
    "endswith": EndsWith,
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "lt": LessThan,
    "lte": LessThanOrEqual,
}
_FOLDED_SUBSTRING = {"co": "contains", "sw": "startswith", "ew": "endswith"}


class _Compiler:
    """Filter AST -> Q; leaves follow the semantics of :mod:`.evaluate`."""

    def __init__(
        self, connection: Connection, resolver: Resolver | None = None, *, absent: bool = False
    ) -> None:
        self.columns = resolver or Resolver(connection)
        #: An attribute the resource type does not have compares false (a search across
        #: resource types, RFC 7644 §3.4.3) instead of refusing the filter.
        self.absent = absent

    def resolve(self, path: Any) -> Target | None:
        try:
            return self.columns.resolve(path)
        except UnknownAttribute:
            if self.absent:
                return None
            raise

    # ---------------------------------------------------------------- boolean structure

    def compile(self, expr: Filter, element: MultiValued | ComplexValue | None = None) -> Q:
        """*element*: compiling a value path's inner filter against that attribute's rows."""
        if isinstance(expr, Not):
            return ~self.compile(expr.expr, element)
        if isinstance(expr, (Present, Compare)):
            if element is not None:
                target: Target | None = self.columns.element_column(expr.path, element)
            else:
                target = self.resolve(expr.path)
            if target is None:
                return _FALSE  # an attribute this resource type does not have
            if isinstance(expr, Present):
                return self.present(target)
            return self.compare(target, expr.op, expr.value)
        if isinstance(expr, ValuePath):
            return self.value_path(expr, element)
        operands, is_and = flatten(expr)
        parts = [self.compile(e, element) for e in operands]
        return reduce(lambda a, b: (a & b) if is_and else (a | b), parts)

    def value_path(self, expr: ValuePath, element: MultiValued | ComplexValue | None) -> Q:
        if element is not None:
            raise InvalidFilter("Value filters cannot be nested.")
        target = self.resolve(expr.path)
        if target is None:
            return _FALSE
        if isinstance(target, MultiValued) and target.sub is None:
            return target.having(self.compile(expr.filter, target))
        if isinstance(target, ComplexValue):
            # name[givenName eq "x"]: a singular complex value is its own single element.
            return self.compile(expr.filter, target)
        raise InvalidFilter(f"'{target.name}' is not complex: '[...]' needs a complex attribute.")

    # ---------------------------------------------------------------- leaves

    def present(self, target: Target) -> Q:
        if isinstance(target, ComplexValue):
            return reduce(lambda a, b: a | b, (self.present(c) for c in target.columns.values()))
        if isinstance(target, MultiValued):
            return target.having(self.present(target.sub) if target.sub is not None else _TRUE)
        if target.presence is not None:
            return target.presence
        if target.kind == "const":
            return _TRUE if target.const not in (None, "") else _FALSE
        if target.kind in ("text", "folded"):
            non_empty = ~_lookup(target.lhs, "exact", "")
            return non_empty if target.not_null is None else target.not_null & non_empty
        return target.not_null if target.not_null is not None else _TRUE

    def compare(self, target: Target, op: str, value: Any) -> Q:
        if value is None and op in ("eq", "ne"):
            presence = self.present(target)
            return presence if op == "ne" else ~presence
        if op == "ne":
            return ~self.compare(target, "eq", value)
        if isinstance(target, ComplexValue):
            if "value" not in target.columns:
                raise InvalidFilter(
                    f"'{target.name}' is complex: compare one of its sub-attributes "
                    f"(e.g. '{target.name}.{next(iter(target.columns))}')."
                )
            # manager eq "x" compares manager.value, as a multi-valued attribute would.
            return self.compare(target.columns["value"], op, value)
        if isinstance(target, MultiValued):
            column = target.sub or target.columns.get("value")
            if column is None:
                raise InvalidFilter(f"'{target.name}' has no value to compare.")
            return target.having(self.leaf(column, op, value))
        return self.leaf(target, op, value)

    def leaf(self, col: Column, op: str, value: Any) -> Q:
        """A comparison that is TRUE or FALSE, never NULL (``op`` is not ``ne``)."""
        operand = prepare_operand(op, value, col.attr, col.name)
        if col.kind == "const":
            return _TRUE if compare_scalar(col.const, op, operand, col.attr) else _FALSE
        if col.kind == "uuid":
            if op != "eq":
                raise InvalidFilter(f"'{col.name}' can only be compared with eq, ne or pr.")
            try:
                wanted = uuid.UUID(operand)
            except (ValueError, TypeError):
                return _FALSE  # Not an id we could have issued: no match, not an error.
            if str(wanted) != operand:
                return _FALSE  # caseExact: only the canonical spelling we hand out matches.
            condition = col.match(wanted) if col.match else _lookup(col.lhs, "exact", wanted)
        elif col.kind in ("boolean", "datetime"):
            condition = _lookup(col.lhs, _ORDER_LOOKUPS[op], operand)
        elif col.kind == "other":
            condition = self.other_leaf(col, op, operand)
        elif col.kind == "folded":
            assert col.fold is not None
            if op == "ew" and operand:  # served by the reversed btree on PostgreSQL
                condition = Q(ReversedEndsWith(_expression(col.lhs), col.fold(operand)))
            elif op == "sw" and operand:  # a range on SQLite, pattern-ops on PostgreSQL
                condition = Q(RangedStartsWith(_expression(col.lhs), col.fold(operand)))
            else:
                lookup = _FOLDED_SUBSTRING.get(op) or _ORDER_LOOKUPS[op]
                condition = _lookup(col.lhs, lookup, col.fold(operand))
        elif col.attr.case_exact:
            condition = _case_exact(col.lhs, op, operand)
        else:
            condition = _case_insensitive(col.lhs, op, operand)
        if col.digest is not None and op in ("eq", "ew"):
            condition = _whole_value(col, op, operand, condition)
        if col.kind in ("text", "folded") and (operand == "" or op in ("lt", "le")):
            # "" is no value (see evaluate): only these comparisons could match it.
            return self.present(col) & condition
        if col.not_null is not None:
            condition = col.not_null & condition
        return condition

    def other_leaf(self, col: Column, op: str, operand: Any) -> Q:
        if op in _FOLDED_SUBSTRING:
            raise InvalidFilter(f"'{col.name}' is not stored as text: '{op}' does not apply.")
        assert col.model_field is not None
        try:
            wanted = col.model_field.to_python(operand)
        except ValidationError:
            raise InvalidFilter(f"{operand!r} is not a valid value for '{col.name}'.") from None
        return _lookup(col.lhs, _ORDER_LOOKUPS[op], wanted)


def _expression(lhs: Any) -> Any:
    return F(lhs) if isinstance(lhs, str) else lhs


def _lookup(lhs: Any, lookup: str, value: Any) -> Q:
    """``lhs <lookup> value``: keyword lookups for columns, lookup expressions otherwise."""
    if isinstance(lhs, str):
        return Q(**{f"{lhs}__{lookup}": value})
    if isinstance(lhs, KeyTransform) and not isinstance(lhs, KeyTextTransform):
        # A JSON-typed key (a boolean): its own lookup, with the operand as JSON, so both
        # sides compare as JSON values on every backend.
        lookup_class = lhs.get_lookup(lookup)
        assert lookup_class is not None, lookup
        return Q(lookup_class(lhs, Value(value, output_field=JSONField())))
    return Q(_EXPRESSION_LOOKUPS[lookup](lhs, value))


def _whole_value(col: Column, op: str, operand: str, condition: Q) -> Q:
    """``eq``/``ew`` on a value index column, which holds the start of a long value only.

    ``eq`` compares the stored start and the digest of the whole (both "" for a value that was
    not cut), so a long value matches itself and nothing else; ``ew`` cannot see the end of a
    cut value, so it matches values stored whole only.
    """
    assert col.digest is not None
    if op == "ew":
        return condition & Q(**{col.digest: ""})
    compared = col.fold(operand) if col.fold is not None else operand
    return _lookup(col.lhs, "exact", cut(compared)) & Q(**{col.digest: digest(compared)})


def _case_exact(lhs: Any, op: str, operand: str) -> Q:
    """A case-sensitive comparison on every backend.

    ``LIKE`` on PostgreSQL (served by the pattern indexes), positions and prefixes where
    ``LIKE`` ignores case (:mod:`.patterns`).
    """
    expression = _expression(lhs)
    if op in _FOLDED_SUBSTRING and operand == "":
        return _TRUE  # Every string contains, starts and ends with "".
    if op in CASE_EXACT:
        return Q(CASE_EXACT[op](expression, operand))
    return _lookup(lhs, _ORDER_LOOKUPS[op], operand)


def _case_insensitive(lhs: Any, op: str, operand: str) -> Q:
    """A case-insensitive comparison that folds non-ASCII letters on every database."""
    expression = _expression(lhs)
    if op == "eq" or op in _FOLDED_SUBSTRING:
        lookup = _EXPRESSION_LOOKUPS[_FOLDED_SUBSTRING.get(op, "exact")]
        return Q(lookup(CaseFold(expression), CaseFold(Value(operand))))
    lookup = _EXPRESSION_LOOKUPS[_ORDER_LOOKUPS[op]]
    return Q(lookup(CaseFoldLower(expression), CaseFoldLower(Value(operand))))


def filter_to_q(
    expr: Filter,
    connection: Connection,
    *,
    resolver: Resolver | None = None,
    absent: bool = False,
) -> Q:
    """Compile a parsed filter to a ``Q`` over ``ExternalIdentity`` (RFC 7644 §3.4.2.2), or
    over the rows *resolver* resolves attributes of (``ExternalGroup`` for Groups).

    Raises :class:`InvalidFilter` for an attribute that cannot be filtered, an operator that
    does not apply to the attribute's type, or an operand of the wrong type. With *absent*,
    an attribute the resource type does not have compares false (:class:`UnknownAttribute`
    otherwise).
    """
    return _Compiler(connection, resolver, absent=absent).compile(expr)


def order_by_for(
    sort_by: str | None,
    connection: Connection,
    *,
    descending: bool = False,
    resolver: Resolver | None = None,
) -> list[OrderBy]:
    """ORDER BY expressions for ``sortBy``/``sortOrder`` (RFC 7644 §3.4.2.3).

    Pass ``descending=True`` for ``sortOrder=descending``. Strings sort case-insensitively
    unless ``caseExact``; a multi-valued attribute sorts by its primary (else first) value;
    resources without a value sort last when ascending and first when descending. The
    result always ends with ``created_at``, ``id`` so pages are stable. An empty *sort_by*
    gives that default order alone. Raises :class:`InvalidFilter` for attributes that cannot
    be sorted on.
    """
    tiebreak = [
        OrderBy(F("created_at"), descending=descending),
        OrderBy(F("id"), descending=descending),
    ]
    if not sort_by:
        return tiebreak
    # Sorted where the values are stored (the user row, the document), not the value index:
    # one correlated subquery per row would cost more than the join, and rows written
    # before the index existed sort right without `reindex_values`.
    columns = resolver or Resolver(connection, index=False)
    target: Target = columns.resolve(parse_attr_path(sort_by))
    if isinstance(target, ComplexValue):
        if "value" not in target.columns:
            raise InvalidFilter(f"Sort by a sub-attribute of '{target.name}', not the whole.")
        target = target.columns["value"]
    if isinstance(target, MultiValued):
        column = target.sub or target.columns.get("value")
        if column is None or not isinstance(column.lhs, str):
            raise InvalidFilter(f"'{target.name}' cannot be sorted on.")
        rows = target.rows().order_by(*target.primary_first).values(column.lhs)[:1]
        target = replace(column, lhs=Subquery(rows))
    if target.kind == "const":
        return tiebreak  # The same value for every resource.
    expression = _expression(target.lhs)
    if target.kind in ("text", "folded"):
        expression = NullIf(expression, Value(""))  # "" is no value: it sorts with NULLs.
        if target.kind == "text" and not target.attr.case_exact:
            expression = CaseFoldLower(expression)
    return [
        OrderBy(
            expression,
            descending=descending,
            nulls_last=None if descending else True,
            nulls_first=True if descending else None,
        ),
        *tiebreak,
    ]
