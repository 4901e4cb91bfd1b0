"""SELECTs of a fixed shape, compiled to SQL once per database and run again with new values.

Django compiles a queryset every time it is evaluated: it works out the columns of the model and
of each ``select_related`` relation, the joins, the ``ORDER BY`` and the converters, and then
builds a model instance from each row. For the queries every SCIM request runs (its bearer token
with its connection, a user's link row with the user, a user's groups) the compiling was most
of their cost: about 0.4 ms for the token and its connection on the development machine,
against 0.05 ms of SQLite's own work (``docs/performance.rst``).

A :class:`CompiledQuery` builds its queryset once per database alias, with a *placeholder* for
each value the query varies by, compiles it and notes where each placeholder's value sits in
the parameters. Each run then hands Django's own iterable of that queryset (model instances,
or ``values_list`` rows) a compiler that answers the stored SQL with the run's values in those
places: Django still executes it, converts the columns and builds the instances (``from_db``,
``select_related`` relations) as when a queryset is evaluated; only the compiling, and the copy
of the queryset an evaluation starts with, are not repeated (a query with
``prefetch_related`` is evaluated as a copy, so that its prefetches run).

What it relies on, in each supported Django (5.2 to 6.1): a queryset's iterable asks
``query.get_compiler()`` for its compiler, ``SQLCompiler.execute_sql`` takes its SQL from
``as_sql()``, and ``results_iter`` its column converters from ``get_converters()`` (worked out
once per database connection, a thread's, and kept). Should a placeholder not come out
exactly once among the parameters (a lookup that rewrites its value, a future Django that
inlines it), the query is not compiled ahead and every run evaluates the built queryset as
usual: slower, never different.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections, router
from django.db.models import Field, Model, QuerySet
from django.db.transaction import TransactionManagementError

#: A value for each kind of column a placeholder stands in for. They only have to be valid
#: values of the column's type that no query of ours writes as a constant. An integer one is
#: this far above the smallest value the database's column holds (Django compiles a lookup
#: on a value out of the column's range to "no rows", without its parameter).
_INT_OFFSET = 7_919
_UUID_PLACEHOLDER = uuid.UUID("0d9e5a3c-7c2b-4f61-9b8e-70c0de5a1ace")
_TEXT_PLACEHOLDER = "\x00django_provisioning:placeholder:"


@dataclass(frozen=True)
class Slot:
    """One value of a compiled query: the model field it is compared with.

    The value of a run goes through the field's ``get_db_prep_value``, as a lookup's would.
    """

    field: Field[Any, Any]

    @classmethod
    def of(cls, model: type[Model], name: str) -> Slot:
        return cls(model._meta.get_field(name))  # type: ignore[arg-type]

    @property
    def kind(self) -> str:
        """The internal type of the column compared: a foreign key's is its target's."""
        field: Any = self.field
        target = field.target_field if field.is_relation else field
        return str(target.get_internal_type())

    def placeholder(self, index: int, connection: Any) -> Any | None:
        """A value of the field's type that marks the *index*-th slot of a query (distinct for
        each *index*) on *connection*, or None when no placeholder fits the field."""
        kind = self.kind
        if kind in {
            "AutoField",
            "BigAutoField",
            "SmallAutoField",
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
        }:
            # Within a 32-bit integer too: an expression's lookup may bind it as one.
            low, _high = connection.ops.integer_field_range(kind)
            return max(low if low is not None else -(2**31), -(2**31)) + _INT_OFFSET + index
        if kind == "UUIDField":
            return uuid.UUID(int=_UUID_PLACEHOLDER.int + index)
        if kind in {"CharField", "TextField", "SlugField"}:
            return f"{_TEXT_PLACEHOLDER}{index}\x00"
        return None

    def prep(self, value: Any, connection: Any) -> Any:
        return self.field.get_db_prep_value(value, connection, prepared=False)

    def in_range(self, prepared: Any, connection: Any) -> bool:
        """False for an integer out of the column's range: Django compiles its lookup to no
        SQL ("no rows", or no condition), or the database driver refuses it (SQLite's
        ``OverflowError``), so a run with it evaluates the built queryset instead."""
        if not isinstance(prepared, int) or isinstance(prepared, bool):
            return True
        try:
            low, high = connection.ops.integer_field_range(self.kind)
        except KeyError:
            return True
        return (low is None or prepared >= low) and (high is None or prepared <= high)


@dataclass
class _Plan:
    #: Not in the repr: a queryset's repr evaluates it, with the placeholders (PostgreSQL
    #: refuses the text one's NUL, and in a transaction the error aborts it).
    queryset: QuerySet[Any] = dataclasses.field(repr=False)
    compiler: Any = dataclasses.field(repr=False)
    sql: str
    params: tuple[Any, ...]
    positions: tuple[int, ...]
    #: Per slot, the type the compiled parameter has when it is a subclass of the prepared
    #: value's (psycopg's ``Int4`` for an ``int`` bound through an expression), else None.
    wrappers: tuple[type | None, ...]
    #: The SQL locks its rows (``FOR UPDATE``): Django refuses it outside a transaction, in
    #: ``as_sql``, which runs do not call, so :meth:`CompiledQuery.run` checks it.
    locks: bool = False
    #: The column converters of each database connection (one per thread) that ran the plan:
    #: Django works them out per execution (a tenth of a run's time for a token's 40 columns).
    converters: weakref.WeakKeyDictionary[Any, list[Any]] = dataclasses.field(
        default_factory=weakref.WeakKeyDictionary, repr=False
    )


class CompiledQuery:
    """A queryset ``build(*values)`` compiled once per database alias, run with new values.

    ``run(*values)`` returns what ``list(build(*values))`` would, model instances or rows.
    *build* must give the same SQL for any values (no branches on them), which the tests of
    each compiled query check against the built queryset.
    """

    def __init__(
        self,
        model: type[Model],
        build: Callable[..., QuerySet[Any]],
        *slots: Slot,
        for_write: bool = False,
    ) -> None:
        self.model = model
        self.build = build
        self.slots = slots
        #: Runs on the database the router gives for writes (a ``select_for_update``).
        self.for_write = for_write
        self._plans: dict[tuple[str, str], _Plan | None] = {}
        self._lock = threading.Lock()

    def plan(self, alias: str) -> _Plan | None:
        """The compiled query for *alias* (None when it cannot be compiled ahead)."""
        connection = connections[alias]
        key = (alias, connection.vendor)
        try:
            return self._plans[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._plans:
                self._plans[key] = self._compile(alias, connection)
            return self._plans[key]

    def _compile(self, alias: str, connection: Any) -> _Plan | None:
        placeholders = [slot.placeholder(i, connection) for i, slot in enumerate(self.slots)]
        if any(p is None for p in placeholders):
            return None
        queryset = self.build(*placeholders).using(alias)
        compiler = queryset.query.get_compiler(using=alias)
        try:
            sql, params = compiler.as_sql()
        except (EmptyResultSet, FullResultSet):
            return None  # a value decided the SQL: it cannot be compiled ahead
        params = tuple(params)
        positions: list[int] = []
        wrappers: list[type | None] = []
        for slot, placeholder in zip(self.slots, placeholders, strict=True):
            marked = slot.prep(placeholder, connection)
            found = [i for i, p in enumerate(params) if isinstance(p, type(marked)) and p == marked]
            if len(found) != 1:
                return None
            positions.append(found[0])
            kind = type(params[found[0]])
            wrappers.append(None if kind is type(marked) else kind)
        locks = bool(queryset.query.select_for_update and connection.features.has_select_for_update)
        return _Plan(queryset, compiler, sql, params, tuple(positions), tuple(wrappers), locks)

    def run(self, *values: Any) -> list[Any]:
        alias = (router.db_for_write if self.for_write else router.db_for_read)(self.model)
        plan = self.plan(alias)
        if plan is None:
            return list(self.build(*values).using(alias))
        connection = connections[alias]
        if (
            plan.locks and connection.get_autocommit() and connection.features.supports_transactions
        ):  # as Django's as_sql, which a run does not call
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = list(plan.params)
        for slot, position, wrapper, value in zip(
            self.slots, plan.positions, plan.wrappers, values, strict=True
        ):
            prepared = slot.prep(value, connection)
            if not slot.in_range(prepared, connection):
                return list(self.build(*values).using(alias))  # as Django answers it
            params[position] = prepared if wrapper is None else wrapper(prepared)
        compiler = copy.copy(plan.compiler)
        compiler.connection = connection  # this thread's connection to the alias
        statement = (plan.sql, tuple(params))
        compiler.as_sql = lambda *args, **kwargs: statement
        converters = plan.converters.get(connection)
        if converters is None:
            columns = [column[0] for column in compiler.select[0 : compiler.col_count]]
            converters = plan.converters[connection] = compiler.get_converters(columns)
        compiler.get_converters = lambda expressions: converters
        if plan.queryset._prefetch_related_lookups:  # type: ignore[attr-defined]
            # Evaluated as a queryset, whose evaluation also runs the prefetches.
            queryset = plan.queryset._chain()  # type: ignore[attr-defined]
            queryset.query.get_compiler = lambda *args, **kwargs: compiler  # type: ignore[method-assign]
            return list(queryset)
        # What evaluating the queryset does, less the copy of it and of its query (a fifth of
        # a small query's time): Django's own iterable (model instances, values_list rows)
        # over a view of the plan's queryset that answers this run's compiler.
        iterable: Any = plan.queryset._iterable_class  # type: ignore[attr-defined]
        return list(iterable(_Running(plan.queryset, compiler, alias)))


class _Running:
    """The plan's queryset as one run's iterable reads it: its database alias, its query
    answering the run's compiler, anything else read from the queryset itself (shared by
    every run and thread: read, never changed)."""

    __slots__ = ("_queryset", "db", "query")

    def __init__(self, queryset: QuerySet[Any], compiler: Any, alias: str) -> None:
        self._queryset = queryset
        self.db = alias
        self.query = _RunningQuery(queryset.query, compiler)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queryset, name)


class _RunningQuery:
    __slots__ = ("_compiler", "_query")

    def __init__(self, query: Any, compiler: Any) -> None:
        self._query = query
        self._compiler = compiler

    def get_compiler(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._query, name)


def first(rows: Sequence[Any]) -> Any | None:
    return rows[0] if rows else None
