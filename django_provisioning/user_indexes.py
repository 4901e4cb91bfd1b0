"""Indexes the host's user table needs for the core's case-insensitive lookups (opt-in).

Creating an account looks its local username up case-insensitively in the user table
(:meth:`~.adapter.DefaultAdapter.find_user_by_user_name`, after this app's own indexed claims),
and a connection that links by e-mail looks the e-mail up the same way (``find_user_by_email``).
On PostgreSQL these are ``UPPER(column) = UPPER(%s)`` (for an ASCII username ``UPPER(column) IN
(UPPER(%s), ...)`` over its spellings: :class:`~.db.SameFolded`), which only an expression index
on ``UPPER(column)`` serves; contrib ``auth.User`` has none, so each lookup scans the table
(seconds at a million users). This app does not alter a table it does not own unasked: the host
adds :class:`AddUserLookupIndexes` to one of its own migrations, and the database check
``django_provisioning.W010`` says when the indexes are missing from a table large enough for the
scan to matter (PostgreSQL). On SQLite the username lookup of an ASCII name is ``LOWER(column)
IN (%s, ...)`` (:class:`~.db.SameFolded`), and the operation adds an index on SQLite's built-in
``LOWER(column)`` (no function of this app's in the schema, so any SQLite client can still write
the table); the e-mail is compared with ``LIKE``, which no such index serves. Other databases: a
no-op.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.operations.base import Operation

#: A user table with fewer rows (the planner's estimate) is not worth a warning: the planner
#: scans small tables whatever their indexes.
SCAN_WARNING_ROWS = 10_000


def _column(model: Any, name: str) -> str | None:
    try:
        return getattr(model._meta.get_field(name), "column", None)
    except FieldDoesNotExist:
        return None


def lookup_columns(links_by_email: bool = True) -> list[str]:
    """The user table's columns the core looks up case-insensitively (username, e-mail)."""
    model = get_user_model()
    names = [model.USERNAME_FIELD, model.get_email_field_name()] if links_by_email else []
    columns = [_column(model, name) for name in names or [model.USERNAME_FIELD]]
    return list(dict.fromkeys(c for c in columns if c))


def index_name(column: str) -> str:
    return f"dp_user_upper_{column}"[:63]


def sqlite_index_name(column: str) -> str:
    return f"dp_user_lower_{column}"


def _sqlite_columns() -> list[str]:
    column = _column(get_user_model(), get_user_model().USERNAME_FIELD)
    return [column] if column else []


def create_statements(connection: Any, *, concurrently: bool = False) -> list[str]:
    """``CREATE INDEX`` statements of the lookup indexes (PostgreSQL and SQLite)."""
    quote = connection.ops.quote_name
    table = quote(get_user_model()._meta.db_table)
    if connection.vendor == "sqlite":
        return [
            f"CREATE INDEX IF NOT EXISTS {quote(sqlite_index_name(c))} ON {table} "
            f"(LOWER({quote(c)}))"
            for c in _sqlite_columns()
        ]
    if connection.vendor != "postgresql":
        return []
    how = " CONCURRENTLY" if concurrently else ""
    return [
        f"CREATE INDEX{how} IF NOT EXISTS {quote(index_name(c))} ON {table} (UPPER({quote(c)}))"
        for c in lookup_columns()
    ]


def drop_statements(connection: Any, *, concurrently: bool = False) -> list[str]:
    quote = connection.ops.quote_name
    if connection.vendor == "sqlite":
        return [f"DROP INDEX IF EXISTS {quote(sqlite_index_name(c))}" for c in _sqlite_columns()]
    if connection.vendor != "postgresql":
        return []
    how = " CONCURRENTLY" if concurrently else ""
    return [f"DROP INDEX{how} IF EXISTS {quote(index_name(c))}" for c in lookup_columns()]


def invalid_indexes(connection: Any) -> list[str]:
    """The lookup indexes present but invalid (a failed ``CONCURRENTLY`` build); PostgreSQL."""
    if connection.vendor != "postgresql":
        return []
    names = [index_name(c) for c in lookup_columns()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass(%s) AND NOT i.indisvalid AND c.relname = ANY(%s)",
            [connection.ops.quote_name(get_user_model()._meta.db_table), names],
        )
        return [row[0] for row in cursor.fetchall()]


class AddUserLookupIndexes(Operation):
    """A migration operation for the host's own migration: ``UPPER()`` indexes on the user
    model's username and e-mail columns on PostgreSQL, a ``LOWER()`` index on the username
    column on SQLite (elsewhere it does nothing).

    ``concurrently=True`` builds them without locking the table against writes; PostgreSQL
    then needs the migration to be non-atomic (``atomic = False`` on the Migration).
    Reversible: going back drops them.
    """

    reduces_to_sql = True
    reversible = True

    def __init__(self, concurrently: bool = False) -> None:
        self.concurrently = concurrently

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs = {"concurrently": True} if self.concurrently else {}
        return (f"{__name__}.{type(self).__name__}", [], kwargs)

    def state_forwards(self, app_label: str, state: Any) -> None:
        """No model state: the indexes are expressions on a table the host's model owns."""

    def database_forwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        # A concurrent build that failed left an invalid index of the name, which serves no
        # lookup and which IF NOT EXISTS would keep: dropped, then built again.
        how = " CONCURRENTLY" if self.concurrently else ""
        quote = schema_editor.connection.ops.quote_name
        for name in invalid_indexes(schema_editor.connection):
            schema_editor.execute(f"DROP INDEX{how} IF EXISTS {quote(name)}")
        for sql in create_statements(schema_editor.connection, concurrently=self.concurrently):
            schema_editor.execute(sql)

    def database_backwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        for sql in drop_statements(schema_editor.connection, concurrently=self.concurrently):
            schema_editor.execute(sql)

    def describe(self) -> str:
        return "Add case-insensitive lookup indexes on the user model's username (and e-mail)"


def missing_indexes(using: str = DEFAULT_DB_ALIAS) -> tuple[list[str], int]:
    """(columns looked up without an ``UPPER()`` index, the table's estimated rows) on
    PostgreSQL; ([], 0) elsewhere. An index counts when it is on that expression alone and
    not partial."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return [], 0
    from .models import Connection

    table = get_user_model()._meta.db_table
    with connection.cursor() as cursor:
        # Valid indexes only: an invalid one (a failed CONCURRENTLY build) serves no lookup.
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = to_regclass(%s) AND indisvalid",
            [connection.ops.quote_name(table)],
        )
        definitions = [row[0].lower().replace('"', "") for row in cursor.fetchall()]
        cursor.execute(
            "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(table)],
        )
        found = cursor.fetchone()
    links = Connection.objects.using(using).filter(link_by_email=True).exists()
    missing = [
        column
        for column in lookup_columns(links_by_email=links)
        if not any(_serves(d, column.lower()) for d in definitions)
    ]
    return missing, int(found[0]) if found and found[0] is not None else 0


def _serves(definition: str, column: str) -> bool:
    """Whether an index *definition* (lowercased, unquoted) is on ``UPPER(column)`` alone, not
    partial (a ``varchar`` column is cast to ``text`` in it, a ``text`` one is not)."""
    on = (f"(upper(({column})::text))", f"(upper({column}))")
    return " where " not in definition and any(expression in definition for expression in on)


@register(Tags.database)
def check_user_indexes(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """W010: on PostgreSQL, a user table over ``SCAN_WARNING_ROWS`` rows without the
    ``UPPER()`` indexes the core's lookups need (a database check: ``migrate`` and
    ``check --database default`` run it)."""
    messages: list[CheckMessage] = []
    for using in databases or ():
        try:
            missing, rows = missing_indexes(using)
        except DatabaseError:
            continue  # not migrated yet
        if missing and rows >= SCAN_WARNING_ROWS:
            table = get_user_model()._meta.db_table
            messages.append(
                Warning(
                    f"Creating a user looks up {', '.join(missing)} case-insensitively in "
                    f"{table} (about {rows} rows), which has no UPPER() index on it: each "
                    "lookup scans the whole table.",
                    hint="Add django_provisioning.user_indexes.AddUserLookupIndexes() to a "
                    "migration of your project (docs: performance of writes, in scim.rst).",
                    obj=table,
                    id="django_provisioning.W010",
                )
            )
    return messages
