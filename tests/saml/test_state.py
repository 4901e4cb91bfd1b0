"""The replay cache and the pending logins, below the views."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from django_provisioning.models import Connection, SamlAssertionReplay, SamlPendingLogin
from django_provisioning.saml import replay, state
from django_provisioning.saml.errors import SamlError
from django_provisioning.saml.validation import ValidatedResponse

from .conftest import Browser

pytestmark = pytest.mark.django_db


def test_second_insert_of_an_assertion_id_is_refused(saml_connection: Connection) -> None:
    later = timezone.now() + dt.timedelta(minutes=5)
    replay.consume_assertion(saml_connection, "_a1", later)
    with pytest.raises(SamlError) as info:
        replay.consume_assertion(saml_connection, "_a1", later)
    assert info.value.code == "replayed"
    assert SamlAssertionReplay.objects.count() == 1


def test_same_id_from_another_connection_is_independent(saml_connection: Connection) -> None:
    other = Connection.objects.create(slug="other", name="Other")
    later = timezone.now() + dt.timedelta(minutes=5)
    replay.consume_assertion(saml_connection, "_a1", later)
    replay.consume_assertion(other, "_a1", later)
    assert SamlAssertionReplay.objects.count() == 2


def test_expired_rows_are_pruned(saml_connection: Connection) -> None:
    past = timezone.now() - dt.timedelta(seconds=1)
    SamlAssertionReplay.objects.create(
        connection=saml_connection, assertion_id="_old", expires_at=past
    )
    replay.consume_assertion(saml_connection, "_new", timezone.now() + dt.timedelta(minutes=1))
    assert list(SamlAssertionReplay.objects.values_list("assertion_id", flat=True)) == ["_new"]


def test_very_long_assertion_ids_are_hashed(saml_connection: Connection) -> None:
    long_id = "_" + "x" * 400
    later = timezone.now() + dt.timedelta(minutes=5)
    replay.consume_assertion(saml_connection, long_id, later)
    with pytest.raises(SamlError):
        replay.consume_assertion(saml_connection, long_id, later)
    assert SamlAssertionReplay.objects.get().assertion_id.startswith("sha256:")


def _validated() -> ValidatedResponse:
    return ValidatedResponse(
        assertion_id="_a", in_response_to="ONELOGIN_x", name_id="a@example.com",
        name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        name_id_qualifier=None, name_id_sp_qualifier=None, session_index=None,
        expires_at=timezone.now() + dt.timedelta(minutes=5),
    )  # fmt: skip


def test_pending_login_consumes_the_assertion_in_the_same_transaction(
    saml_connection: Connection, django_assert_num_queries: Any
) -> None:
    """One transaction writes the replay row and the pending row; a replay writes neither."""
    replay.prune_when_due("replay", lambda: 0)  # pruned lately: no DELETE in the count
    replay.prune_when_due("pending", lambda: 0)
    # SAVEPOINT, the two INSERTs, RELEASE (BEGIN and COMMIT outside a test's transaction)
    with django_assert_num_queries(4):
        state.create_pending_login(saml_connection, _validated(), "")
    with pytest.raises(SamlError) as info:
        state.create_pending_login(saml_connection, _validated(), "/other/")
    assert info.value.code == "replayed"
    assert SamlAssertionReplay.objects.get().assertion_id == "_a"
    assert SamlPendingLogin.objects.get().relay_state == ""


def test_pruning_runs_when_due(saml_connection: Connection) -> None:
    """A pass that finds less than a batch makes the next wait PRUNE_INTERVAL; a full batch
    keeps pruning with every sign-in."""
    calls: list[str] = []
    replay.prune_when_due("x", lambda: calls.append("short") or 3)
    replay.prune_when_due("x", lambda: calls.append("again") or 0)
    assert calls == ["short"]
    replay.reset_pruning()
    replay.prune_when_due("x", lambda: calls.append("full") or replay.PRUNE_BATCH)
    replay.prune_when_due("x", lambda: calls.append("backlog") or 0)
    assert calls == ["short", "full", "backlog"]


def test_pending_login_is_stored_hashed_and_single_use(saml_connection: Connection) -> None:
    key = state.create_pending_login(saml_connection, _validated(), "/next/")
    row = SamlPendingLogin.objects.get()
    assert key not in row.key_checksum
    pending = state.consume_pending_login(state.find_pending_login(saml_connection.slug, key), key)
    assert pending.relay_state == "/next/"
    assert pending.data["name_id"] == "a@example.com"
    with pytest.raises(SamlError):
        state.consume_pending_login(state.find_pending_login(saml_connection.slug, key), key)


@pytest.mark.parametrize("key", ["", "k" * (state.MAX_KEY_LENGTH + 1)], ids=["empty", "long"])
def test_malformed_pending_login_key_is_refused_unread(
    saml_connection: Connection, key: str, django_assert_num_queries: Any
) -> None:
    state.create_pending_login(saml_connection, _validated(), "")
    with django_assert_num_queries(0):
        row = state.find_pending_login(saml_connection.slug, key)
        with pytest.raises(SamlError) as info:
            state.consume_pending_login(row, key)
    assert (info.value.code, info.value.detail) == (
        "pending_expired",
        "no or malformed pending-login key",
    )
    assert SamlPendingLogin.objects.count() == 1


def test_pending_login_expires(saml_connection: Connection) -> None:
    key = state.create_pending_login(saml_connection, _validated(), "")
    SamlPendingLogin.objects.update(created_at=timezone.now() - dt.timedelta(minutes=3))
    with pytest.raises(SamlError) as info:
        state.consume_pending_login(state.find_pending_login(saml_connection.slug, key), key)
    assert info.value.code == "pending_expired"
    assert not SamlPendingLogin.objects.exists()


def test_step_one_costs_a_fixed_number_of_queries(
    browser: Browser, saml_connection: Connection, django_assert_max_num_queries: Any
) -> None:
    request, relay_state = browser.start()
    xml = browser.response_for(request)
    with django_assert_max_num_queries(8):
        response = browser.post(xml, relay_state)
    assert response.status_code == 303
