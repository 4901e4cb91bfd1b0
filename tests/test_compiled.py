"""CompiledQuery: the same SQL and the same rows as the built queryset, compiled only once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db_connection
from django.db import connections, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from django_provisioning import claims, locks, records, value_index
from django_provisioning.adapter import DefaultAdapter
from django_provisioning.compiled import CompiledQuery, Slot
from django_provisioning.connections import CONNECTION_BY_SLUG
from django_provisioning.jit import LINK_ROW_BY
from django_provisioning.local_groups import groups_through
from django_provisioning.models import ExternalIdentity, ScimToken
from django_provisioning.saml.state import PENDING_LOGIN
from django_provisioning.schema.definitions import GROUP_SCHEMA, USER_SCHEMA
from django_provisioning.scim import lookup, rendering, views
from django_provisioning.tokens import TOKEN_BY_CHECKSUM, checksum, issue_token, revoke_token

from .tools import require_postgresql


def user(user_name: str) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": user_name}


def one_users_groups() -> CompiledQuery:
    return rendering._one_users_groups(*groups_through(get_user_model()))


def same_sql(query: CompiledQuery, values: tuple[Any, ...]) -> None:
    """The compiled query's statement for *values* is the built queryset's."""
    plan = query.plan("default")
    assert plan is not None, "the query fell back to compiling on every run"
    built_sql, built_params = query.build(*values).query.get_compiler(using="default").as_sql()
    params = list(plan.params)
    for slot, position, wrapper, value in zip(
        query.slots, plan.positions, plan.wrappers, values, strict=True
    ):
        prepared = slot.prep(value, db_connection)
        params[position] = prepared if wrapper is None else wrapper(prepared)
    assert plan.sql == built_sql
    # The same values, of the same types (psycopg binds an Int4 unlike an int).
    assert [(type(p), p) for p in params] == [(type(p), p) for p in built_params]


def test_each_compiled_query_is_compiled_ahead_with_the_built_sql(connection, scim):
    _token, raw = issue_token(connection)
    created = scim.post("Users", user("ada@example.com")).json()
    identity = ExternalIdentity.objects.get(scim_id=created["id"])
    same_sql(TOKEN_BY_CHECKSUM, (checksum(raw),))
    same_sql(views.IDENTITY_BY_SCIM_ID, (connection.pk, identity.scim_id))
    same_sql(one_users_groups(), (connection.pk, identity.user_id))
    same_sql(views.IDENTITY_BY_KEY, (connection.pk, identity.pk))
    same_sql(claims.CLAIM_OF, (identity.user_name_normalized,))
    same_sql(records.NAME_HOLDERS, (connection.pk, identity.user_name_normalized))
    same_sql(
        records.OTHER_NAME_HOLDERS, (connection.pk, identity.user_name_normalized, identity.pk)
    )
    same_sql(CONNECTION_BY_SLUG, (connection.slug,))
    same_sql(PENDING_LOGIN, (connection.slug, "0" * 64))
    same_sql(value_index.STORED_VALUES, (identity.pk,))
    for column, query in lookup.MATCHES.items():
        same_sql(query, (connection.pk, getattr(identity, column) or "x"))
    same_sql(lookup.VALUE_MATCHES, (connection.pk, "emails", "ada@example.com", ""))
    for (field, _lock), query in LINK_ROW_BY.items():
        with transaction.atomic():
            same_sql(query, (connection.pk, getattr(identity, field)))
    with transaction.atomic():  # FOR UPDATE (on PostgreSQL) is compiled in a transaction only
        same_sql(locks.LOCK_IDENTITY, (identity.pk,))
        same_sql(locks._lock_user_query(get_user_model()), (identity.user_id,))


def test_runs_give_what_the_built_queryset_gives(connection, other_connection, scim):
    token, raw = issue_token(connection)
    _other, other_raw = issue_token(other_connection)
    found = TOKEN_BY_CHECKSUM.run(checksum(raw))
    assert [t.pk for t in found] == [token.pk]
    # The columns went through their converters (SQLite hands datetimes over as text), which
    # the plan keeps for this thread's connection after the first run.
    assert found[0].created_at == token.created_at and found[0].created_at.tzinfo is not None
    assert found[0].connection.created_at == connection.created_at
    assert connections["default"] in TOKEN_BY_CHECKSUM.plan("default").converters
    again = TOKEN_BY_CHECKSUM.run(checksum(raw))
    assert again[0].created_at == token.created_at
    assert [t.connection.slug for t in TOKEN_BY_CHECKSUM.run(checksum(other_raw))] == [
        other_connection.slug
    ]
    assert TOKEN_BY_CHECKSUM.run(checksum("scim_unknown")) == []
    # Nothing of a run is kept: a revocation is seen by the next one.
    revoke_token(token)
    assert TOKEN_BY_CHECKSUM.run(checksum(raw))[0].revoked_at is not None

    ada = scim.post("Users", user("ada@example.com")).json()
    row = ExternalIdentity.objects.get(scim_id=ada["id"])
    (identity,) = views.IDENTITY_BY_SCIM_ID.run(connection.pk, row.scim_id)
    assert identity.pk == row.pk and identity.user.get_username() == row.user.get_username()
    # Scoped: another connection's id, or a deleted link row, is not found.
    assert views.IDENTITY_BY_SCIM_ID.run(other_connection.pk, row.scim_id) == []
    scim.delete(f"Users/{ada['id']}")
    assert views.IDENTITY_BY_SCIM_ID.run(connection.pk, row.scim_id) == []


def test_a_run_evaluates_no_copy_of_the_queryset(connection, monkeypatch):
    """A run iterates the plan's queryset through Django's own iterable, without cloning it
    (the copy was a fifth of a small query's time); the plan's queryset is left as it was."""
    _token, raw = issue_token(connection)
    TOKEN_BY_CHECKSUM.run(checksum(raw))
    plan = TOKEN_BY_CHECKSUM.plan("default")
    monkeypatch.setattr(type(plan.queryset), "_chain", _no_copy)
    (token,) = TOKEN_BY_CHECKSUM.run(checksum(raw))
    assert token.connection.slug == connection.slug
    assert plan.queryset._result_cache is None
    assert plan.queryset.query.get_compiler.__self__ is plan.queryset.query  # not replaced


def _no_copy(self: Any) -> Any:
    raise AssertionError("the queryset was copied")


def test_a_prefetching_query_is_evaluated_with_its_prefetches(
    connection, scim, django_assert_num_queries
):
    """A compiled query with ``prefetch_related`` is evaluated as a queryset, so that its
    prefetches run as ``list(queryset)`` runs them."""
    ada = scim.post("Users", user("ada@example.com")).json()
    query = CompiledQuery(
        ExternalIdentity,
        lambda pk: ExternalIdentity.objects.filter(pk=pk).prefetch_related("values"),
        Slot.of(ExternalIdentity, "id"),
    )
    row = ExternalIdentity.objects.get(scim_id=ada["id"])
    assert query.plan("default") is not None
    with django_assert_num_queries(2):
        (identity,) = query.run(row.pk)
        values = [v.value for v in identity.values.all()]  # from the prefetch: no query
    assert values == [v.value for v in row.values.all()]


def test_a_token_and_its_connection_are_one_query(connection, django_assert_num_queries):
    _token, raw = issue_token(connection)
    with django_assert_num_queries(1):
        (token,) = TOKEN_BY_CHECKSUM.run(checksum(raw))
        assert token.connection.slug == connection.slug  # loaded with it
    assert TOKEN_BY_CHECKSUM.plan("default") is not None  # compiled ahead, not built each time


def test_the_groups_of_one_user_match_those_of_many(connection, scim):
    ids = [scim.post("Users", user(f"u{i}@example.com")).json()["id"] for i in range(2)]
    for name, members in (("Eng", ids), ("Art", ids[:1])):
        body = {"schemas": [GROUP_SCHEMA], "displayName": name}
        response = scim.post("Groups", {**body, "members": [{"value": m} for m in members]})
        assert response.status_code == 201, response.content
    users = [ExternalIdentity.objects.get(scim_id=i).user_id for i in ids]
    together = rendering.groups_of_users(connection, users)
    for pk in users:
        alone = rendering.groups_of_users(connection, [pk])
        assert alone[pk] == together[pk]
    assert [g["display"] for g in together[users[0]]] == ["Art", "Eng"]
    assert [g["display"] for g in scim.get(f"Users/{ids[0]}").json()["groups"]] == [
        "Art",
        "Eng",
    ]


@pytest.mark.parametrize(
    ("lookup", "field", "value"),
    [
        # ``contains`` wraps the value in ``%...%``: no parameter is the placeholder.
        ("checksum__contains", "checksum", lambda token, raw: checksum(raw)[5:20]),
        # No placeholder fits a datetime column.
        ("created_at", "created_at", lambda token, raw: token.created_at),
    ],
)
def test_a_query_that_cannot_be_compiled_ahead_is_built_on_every_run(
    connection: Any, lookup: str, field: str, value: Any
) -> None:
    token, raw = issue_token(connection)
    query = CompiledQuery(
        ScimToken,
        lambda given: ScimToken.objects.filter(**{lookup: given}),
        Slot.of(ScimToken, field),
    )
    assert query.plan("default") is None
    assert [t.pk for t in query.run(value(token, raw))] == [token.pk]
    if field == "created_at":
        assert Slot.of(ScimToken, field).placeholder(0, db_connection) is None


def test_slots_of_one_type_get_distinct_placeholders(connection):
    """Two integer slots (the connection and the user of a user's groups): two placeholders."""
    for slot in (Slot.of(ScimToken, "checksum"), Slot.of(ScimToken, "connection")):
        assert slot.placeholder(0, db_connection) != slot.placeholder(1, db_connection)
    both = CompiledQuery(
        ScimToken,
        lambda a, b: ScimToken.objects.filter(connection_id=a).exclude(connection_id=b),
        Slot.of(ScimToken, "connection"),
        Slot.of(ScimToken, "connection"),
    )
    plan = both.plan("default")
    assert plan is not None and sorted(plan.positions) == [0, 1]
    token, _raw = issue_token(connection)
    assert [t.pk for t in both.run(connection.pk, connection.pk + 1)] == [token.pk]
    assert both.run(connection.pk, connection.pk) == []


def test_an_overridden_identity_queryset_is_used_not_the_compiled_one(connection, scim, settings):
    """A host that scopes the link rows its connection sees keeps its scope for GET by id."""
    ada = scim.post("Users", user("ada@example.com")).json()
    settings.DJANGO_PROVISIONING = {"ADAPTER": f"{__name__}.NoOneAdapter"}
    response = scim.get(f"Users/{ada['id']}")
    assert response.status_code == 404, response.content


class NoOneAdapter(DefaultAdapter):
    def get_identity_queryset(self, connection: Any) -> Any:
        return super().get_identity_queryset(connection).none()


@pytest.mark.django_db(transaction=True)
def test_threads_run_the_compiled_query_on_their_own_connections(connection):
    """One plan for every thread; each run executes on its thread's database connection."""
    require_postgresql()
    raws = [issue_token(connection)[1] for _ in range(4)]
    TOKEN_BY_CHECKSUM.run(checksum(raws[0]))  # compiled by this thread
    errors: list[BaseException] = []
    used: list[Any] = []

    def worker(raw: str) -> None:
        try:
            with CaptureQueriesContext(connections["default"]) as queries:
                for _ in range(25):
                    (token,) = TOKEN_BY_CHECKSUM.run(checksum(raw))
                    assert token.checksum == checksum(raw)
            # Each run was one statement on this thread's connection, with this thread's value.
            assert len(queries.captured_queries) == 25
            assert all(checksum(raw) in q["sql"] for q in queries.captured_queries)
            used.append(connections["default"])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(raw,)) for raw in raws]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({id(c) for c in used}) == len(raws)  # references kept: no id reused


def test_a_query_its_values_empty_falls_back_to_compiling(connection):
    """Django compiles ``pk__in=[]`` (or an integer out of the column's range) to no SQL."""
    token, _raw = issue_token(connection)
    query = CompiledQuery(
        ScimToken,
        lambda pk: ScimToken.objects.filter(pk=pk).exclude(pk__in=[]),
        Slot.of(ScimToken, "id"),
    )
    assert query.plan("default") is not None  # exclude(in []) is no condition at all
    nothing = CompiledQuery(
        ScimToken, lambda pk: ScimToken.objects.filter(pk=pk, pk__in=[]), Slot.of(ScimToken, "id")
    )
    assert nothing.plan("default") is None
    assert nothing.run(token.pk) == []
    assert [t.pk for t in query.run(token.pk)] == [token.pk]


def test_integer_placeholders_are_in_the_columns_range(connection):
    slot = Slot.of(ScimToken, "connection")
    low, high = db_connection.ops.integer_field_range("AutoField")
    value = slot.placeholder(0, db_connection)
    assert (low is None or value >= low) and (high is None or value <= high)


@pytest.mark.django_db(transaction=True)
def test_a_locking_query_is_refused_outside_a_transaction_as_django_refuses_it(connection, scim):
    """Django raises in ``as_sql``, which a run does not call: without its own check a compiled
    ``FOR UPDATE`` in autocommit would run and release its lock at once, silently."""
    row = ExternalIdentity.objects.get(
        scim_id=scim.post("Users", user("ada@example.com")).json()["id"]
    )
    with transaction.atomic():  # compiled (PostgreSQL: FOR UPDATE) in a transaction
        assert [r.pk for r in locks.LOCK_IDENTITY.run(row.pk)] == [row.pk]
        assert [u.pk for u in locks._lock_user_query(get_user_model()).run(row.user_id)] == [
            row.user_id
        ]
    if not db_connection.features.has_select_for_update:
        return  # SQLite: no FOR UPDATE, and Django lets it run anywhere
    with pytest.raises(TransactionManagementError):
        list(locks.LOCK_IDENTITY.build(row.pk))
    with pytest.raises(TransactionManagementError):
        locks.LOCK_IDENTITY.run(row.pk)
    with pytest.raises(TransactionManagementError):
        locks._lock_user_query(get_user_model()).run(row.user_id)


@pytest.mark.parametrize("pk", [2**63, -(2**63) - 1, 2**31, -(2**31) - 1])
def test_an_integer_out_of_the_columns_range_gives_what_the_built_queryset_gives(connection, pk):
    """Django compiles ``pk=<out of range>`` to "no rows" (``exclude``: no condition) without
    binding it; bound as is, SQLite raises OverflowError past 64 bits."""
    token, _raw = issue_token(connection)
    exclude = CompiledQuery(
        ScimToken, lambda pk: ScimToken.objects.exclude(pk=pk), Slot.of(ScimToken, "id")
    )
    for query in (views.IDENTITY_BY_KEY, exclude):
        assert query.plan("default") is not None
    assert views.IDENTITY_BY_KEY.run(connection.pk, pk) == []
    assert list(views.IDENTITY_BY_KEY.build(connection.pk, pk)) == []
    assert [t.pk for t in exclude.run(pk)] == [token.pk]


def test_a_plans_repr_runs_no_query(connection, django_assert_num_queries):
    """A plan in a log line or an error report's locals: its queryset, evaluated with the
    placeholders, would be a query (PostgreSQL refuses the text placeholder's NUL)."""
    plan = CONNECTION_BY_SLUG.plan("default")
    with django_assert_num_queries(0):
        assert "SELECT" in repr(plan)
