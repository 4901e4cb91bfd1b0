"""The opt-in ``UPPER()`` indexes on the user table, and check W010 that asks for them."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_provisioning import user_indexes
from django_provisioning.adapter import get_adapter
from django_provisioning.models import Connection
from django_provisioning.user_indexes import AddUserLookupIndexes, check_user_indexes
from tests.factories import ConnectionFactory
from tests.tools import require_postgresql

pytestmark = pytest.mark.django_db
User = get_user_model()


def _apply(operation: AddUserLookupIndexes, *, backwards: bool = False) -> None:
    with connection.schema_editor() as editor:
        if backwards:
            operation.database_backwards("app", editor, None, None)
        else:
            operation.database_forwards("app", editor, None, None)


def test_the_operation_deconstructs_for_a_host_migration() -> None:
    path, args, kwargs = AddUserLookupIndexes(concurrently=True).deconstruct()
    assert path == "django_provisioning.user_indexes.AddUserLookupIndexes"
    assert (args, kwargs) == ([], {"concurrently": True})
    assert AddUserLookupIndexes().deconstruct()[2] == {}


class RecordingEditor:
    """A schema editor that records what it is asked to run."""

    def __init__(self) -> None:
        self.connection = connection
        self.executed: list[str] = []

    def execute(self, sql: str) -> None:
        self.executed.append(sql)


_STATEMENTS = itertools.count()


def _sqlite_lookup_plan(name: str) -> tuple[str, Any]:
    """SQLite's plan of the username lookup for *name*, and the user it found."""
    with CaptureQueriesContext(connection) as captured:
        found = get_adapter().find_user_by_user_name(None, name)  # type: ignore[arg-type]
    table = f'FROM "{User._meta.db_table}"'
    [sql] = [q["sql"] for q in captured.captured_queries if table in q["sql"]]
    with connection.cursor() as cursor:
        # A new statement each time: Python's sqlite3 reuses a cached EXPLAIN of the same text
        # across a schema change.
        cursor.execute(f"EXPLAIN QUERY PLAN /* {next(_STATEMENTS)} */ {sql}")
        return " | ".join(str(row[-1]) for row in cursor.fetchall()), found


def test_on_sqlite_a_lower_index_serves_the_username_lookup() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the PostgreSQL behaviour is tested below")
    column = User._meta.get_field(User.USERNAME_FIELD).column
    ascii_user = User.objects.create(**{User.USERNAME_FIELD: "Grace.Hopper@Corp.test"})
    accented = User.objects.create(**{User.USERNAME_FIELD: "\u00c9mile@corp.test"})
    plan, found = _sqlite_lookup_plan("grace.hopper@corp.TEST")
    assert found == ascii_user and "USING INDEX" not in plan, plan

    editor = RecordingEditor()
    AddUserLookupIndexes().database_forwards("app", editor, None, None)
    assert editor.executed == [
        f'CREATE INDEX IF NOT EXISTS "dp_user_lower_{column}" ON '
        f'"{User._meta.db_table}" (LOWER("{column}"))'
    ]
    # (SQLite's schema editor cannot run inside the test's transaction: its SQL can.)
    with connection.cursor() as cursor:
        for sql in editor.executed:
            cursor.execute(sql)
    plan, found = _sqlite_lookup_plan("grace.hopper@corp.TEST")
    assert found == ascii_user and f"dp_user_lower_{column}" in plan, plan
    # A name with a letter outside ASCII is still folded fully (each row: a scan).
    plan, found = _sqlite_lookup_plan("\u00e9MILE@corp.test")
    assert found == accented and f"dp_user_lower_{column}" not in plan, plan
    assert check_user_indexes(databases=["default"]) == []  # W010 is about PostgreSQL

    editor = RecordingEditor()
    AddUserLookupIndexes().database_backwards("app", editor, None, None)
    assert editor.executed == [f'DROP INDEX IF EXISTS "dp_user_lower_{column}"']
    with connection.cursor() as cursor:
        cursor.execute(editor.executed[0])
    plan, found = _sqlite_lookup_plan("grace.hopper@corp.TEST")
    assert found == ascii_user and "USING INDEX" not in plan, plan


def _seed(n: int) -> None:
    """*n* users (bulk), the table analysed so the planner knows its size."""
    fields = {User.USERNAME_FIELD, User.get_email_field_name()}
    User.objects.bulk_create(
        (User(password="!", **dict.fromkeys(fields, f"u{i}@corp.test")) for i in range(n)),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(User._meta.db_table)}")


def _lookup_plans() -> list[str]:
    """EXPLAIN of the user-table lookups that creating (or linking) a user makes."""
    adapter = get_adapter()
    with CaptureQueriesContext(connection) as captured:
        adapter.find_user_by_user_name(None, "U77@corp.test")  # type: ignore[arg-type]
        adapter.find_user_by_email(None, "U77@corp.test")  # type: ignore[arg-type]
        # A name with an "s": UPPER(col) IN (UPPER(%s), ...) over its spellings (long s, sharp s).
        adapter.find_user_by_user_name(None, "Ross77@corp.test")  # type: ignore[arg-type]
    table = User._meta.db_table
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            if f'FROM "{table}"' in query["sql"]:
                cursor.execute("EXPLAIN " + query["sql"])
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def test_w010_until_the_indexes_exist_then_the_lookups_use_them(
    connection_with_links: Connection, monkeypatch: Any
) -> None:
    require_postgresql()
    _seed(20_000)
    monkeypatch.setattr(user_indexes, "SCAN_WARNING_ROWS", 10_000)
    (warning,) = check_user_indexes(databases=["default"])
    assert warning.id == "django_provisioning.W010"
    assert User._meta.get_field(User.USERNAME_FIELD).column in warning.msg
    plans = _lookup_plans()
    assert len(plans) == 3 and not any("dp_user_upper_" in plan for plan in plans)

    _apply(AddUserLookupIndexes())
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(User._meta.db_table)}")
    assert check_user_indexes(databases=["default"]) == []
    plans = _lookup_plans()
    assert all("dp_user_upper_" in plan and "Seq Scan" not in plan for plan in plans), plans

    _apply(AddUserLookupIndexes(), backwards=True)
    assert [w.id for w in check_user_indexes(databases=["default"])] == ["django_provisioning.W010"]


def test_an_invalid_index_is_missing_and_built_again(
    connection_with_links: Connection, monkeypatch: Any
) -> None:
    """A ``CREATE INDEX CONCURRENTLY`` that failed leaves an invalid index of that name, which
    serves no lookup: W010 still warns, and the operation run again builds it."""
    require_postgresql()
    _seed(20_000)
    monkeypatch.setattr(user_indexes, "SCAN_WARNING_ROWS", 10_000)
    _apply(AddUserLookupIndexes())
    column = User._meta.get_field(User.USERNAME_FIELD).column
    name = user_indexes.index_name(column)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(%s)", [name]
        )
    (warning,) = check_user_indexes(databases=["default"])
    assert column in warning.msg
    _apply(AddUserLookupIndexes())
    assert check_user_indexes(databases=["default"]) == []


def test_indexes_on_mixed_case_and_text_columns_are_found(monkeypatch: Any) -> None:
    """A custom user model's ``"Email"`` column, or a ``text`` one (no ``::text`` cast in the
    index's definition): the index is there, so nothing is missing."""
    require_postgresql()
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE dp_scratch_user ("Email" varchar(254), login text)')
        cursor.execute('CREATE INDEX dp_scratch_1 ON dp_scratch_user (UPPER("Email"))')
        cursor.execute("CREATE INDEX dp_scratch_2 ON dp_scratch_user (UPPER(login))")

    class Meta:
        db_table = "dp_scratch_user"

    class Model:
        _meta = Meta

    monkeypatch.setattr(user_indexes, "get_user_model", lambda: Model)
    monkeypatch.setattr(
        user_indexes, "lookup_columns", lambda links_by_email=True: ["Email", "login"]
    )
    assert user_indexes.missing_indexes()[0] == []


def test_a_small_table_is_not_worth_a_warning(connection_with_links: Connection) -> None:
    require_postgresql()
    _seed(10)
    assert check_user_indexes(databases=["default"]) == []


@pytest.fixture
def connection_with_links(db: Any) -> Connection:
    """A connection that links by e-mail: the e-mail column is looked up too."""
    return ConnectionFactory(slug="links", link_by_email=True, verified_domains=["corp.test"])
