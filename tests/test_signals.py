"""The signal matrix of ``docs/adapter.rst``, one test per user cell.

Each test performs one door action and asserts exactly the signals received after the commit --
their order, sender and keyword arguments, no more and no less -- and that none was received
before it. The group cells are tested with the group functions that send them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import Signal
from django.http import HttpRequest
from django.test import Client

from django_provisioning import signals
from django_provisioning.adapter import DefaultAdapter
from django_provisioning.exceptions import ProvisioningDenied
from django_provisioning.models import Connection, ExternalIdentity
from django_provisioning.provisioning import deactivate_user
from tests.conftest import ScimClient
from tests.factories import ConnectionFactory, UserFactory, scim_user
from tests.saml import conftest as saml_fixtures
from tests.saml.conftest import Browser
from tests.scim.bodies import patch_body

User = get_user_model()
#: The SAML door's fixtures (tests/saml/conftest.py), for the SAML cells.
browser, idp, saml_connection = (
    saml_fixtures.browser,
    saml_fixtures.idp,
    saml_fixtures.saml_connection,
)
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"

#: Every signal of the package; a test fails if one it does not expect arrives.
SIGNAL_NAMES = (
    "user_created",
    "user_linked",
    "user_updated",
    "user_deactivated",
    "user_reactivated",
    "user_deleted",
    "user_unlinked",
    "saml_user_logged_in",
    "group_created",
    "group_updated",
    "group_deleted",
    "group_members_added",
    "group_members_removed",
    "portal_change",  # the setup portal's: tests/portal/
)


@dataclass
class Sent:
    """One signal as a receiver got it."""

    name: str
    sender: str
    kwargs: dict[str, Any]


class Received:
    """Every signal of the package received, in order."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def names(self) -> list[tuple[str, str]]:
        return [(s.name, s.sender) for s in self.sent]

    def kwargs(self, name: str) -> dict[str, Any]:
        (found,) = [s.kwargs for s in self.sent if s.name == name]
        return found


class Is:
    """Equal to one model row: same class and primary key (``==`` on models ignores class)."""

    def __init__(self, row: Any) -> None:
        self.row = row

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self.row) and other.pk == self.row.pk  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"Is({self.row!r})"


class Request:
    """Equal to any ``HttpRequest`` whose user is *user*: the request that signed them in."""

    def __init__(self, user: Any) -> None:
        self.user = user

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HttpRequest) and other.user.pk == self.user.pk

    def __repr__(self) -> str:
        return f"Request(user={self.user!r})"


@pytest.fixture
def received() -> Iterator[Received]:
    defined = {name for name, value in vars(signals).items() if isinstance(value, Signal)}
    assert defined == set(SIGNAL_NAMES), "a signal this module does not listen to"
    log = Received()
    connected = []
    for name in SIGNAL_NAMES:
        signal = getattr(signals, name)

        def receiver(sender: str, signal: Any, _name: str = name, **kwargs: Any) -> None:
            log.sent.append(Sent(_name, sender, kwargs))

        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))
    yield log
    for signal, receiver in connected:
        signal.disconnect(receiver)


Committed = Callable[[], AbstractContextManager[None]]


@pytest.fixture
def committed(received: Received, django_capture_on_commit_callbacks: Any) -> Committed:
    """Run the block, check nothing was sent during it, then "commit" (run what waits for it).

    The test's transaction never commits; what the block queued for the commit is run by hand.
    """

    @contextmanager
    def block() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            yield
        assert received.sent == [], "a signal was sent before the commit"
        for callback in callbacks:
            callback()

    return block


def okta_user(user_name: str = "alice@example.com", **extra: Any) -> dict[str, Any]:
    body = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Alice Liddell",
        "externalId": "00u1abcd",
        "active": True,
    }
    body.update(extra)
    return body


def posted(scim: ScimClient, **extra: Any) -> ExternalIdentity:
    response = scim.post("Users", okta_user(**extra))
    assert response.status_code == 201, response.content
    return ExternalIdentity.objects.get(scim_id=response.json()["id"])


def user_kwargs(connection: Connection, identity: ExternalIdentity) -> dict[str, Any]:
    identity.refresh_from_db()
    return {"connection": Is(connection), "user": Is(identity.user), "identity": Is(identity)}


def local_user(user_name: str = "alice@example.com", **fields: Any) -> Any:
    """A local account the product made itself (not provisioned)."""
    fields.setdefault(User.USERNAME_FIELD, user_name)
    if User.USERNAME_FIELD != "email" and hasattr(User, "email"):
        fields.setdefault("email", user_name)
    return UserFactory(**fields)


# ------------------------------------------------------------------------------- SCIM POST


def test_scim_post_of_a_new_account_sends_user_created(
    scim: ScimClient, received: Received, committed: Committed
) -> None:
    with committed():
        identity = posted(scim)
    assert received.names() == [("user_created", "scim")]
    assert received.kwargs("user_created") == user_kwargs(scim.connection, identity)


def test_scim_post_of_an_inactive_account_sends_user_created_only(
    scim: ScimClient, received: Received, committed: Committed
) -> None:
    with committed():
        identity = posted(scim, active=False)
    assert identity.user.is_active is False
    assert received.names() == [("user_created", "scim")]


def test_scim_post_linking_an_existing_account_sends_user_linked(
    scim: ScimClient, connection: Connection, received: Received, committed: Committed
) -> None:
    connection.link_by_email = True
    connection.save()
    existing = local_user()
    with committed():
        identity = posted(scim)
    assert identity.user_id == existing.pk  # linked, not created
    assert received.names() == [("user_linked", "scim")]
    assert received.kwargs("user_linked") == user_kwargs(connection, identity)


def test_scim_post_linking_an_active_account_as_inactive_sends_linked_and_deactivated(
    scim: ScimClient, connection: Connection, received: Received, committed: Committed
) -> None:
    connection.link_by_email = True
    connection.save()
    existing = local_user()
    signed_in = Client()
    signed_in.force_login(existing, backend="django.contrib.auth.backends.ModelBackend")
    with committed():
        identity = posted(scim, active=False)
    assert identity.user_id == existing.pk and identity.user.is_active is False
    assert signed_in.get("/home/").content == b"home: anonymous"  # its sessions ended
    assert received.names() == [("user_linked", "scim"), ("user_deactivated", "scim")]
    assert received.kwargs("user_deactivated") == user_kwargs(connection, identity)


def test_scim_post_of_a_name_deleted_under_deactivate_relinks_and_reactivates(
    scim: ScimClient, connection: Connection, received: Received, committed: Committed
) -> None:
    first = posted(scim)
    assert scim.delete(f"Users/{first.scim_id}").status_code == 204
    with committed():
        again = posted(scim)
    assert again.user_id == first.user_id and again.user.is_active
    assert received.names() == [("user_linked", "scim"), ("user_reactivated", "scim")]
    assert received.kwargs("user_linked") == user_kwargs(connection, again)
    assert received.kwargs("user_reactivated") == user_kwargs(connection, again)


def test_scim_post_of_a_name_deleted_under_deactivate_kept_inactive_sends_linked_only(
    scim: ScimClient, received: Received, committed: Committed
) -> None:
    first = posted(scim)
    assert scim.delete(f"Users/{first.scim_id}").status_code == 204
    with committed():
        again = posted(scim, active=False)
    assert again.user_id == first.user_id and not again.user.is_active
    assert received.names() == [("user_linked", "scim")]


# ---------------------------------------------------------------------------- PUT / PATCH


def test_scim_patch_of_an_attribute_sends_user_updated(
    scim: ScimClient, received: Received, committed: Committed
) -> None:
    identity = posted(scim)
    body = patch_body({"op": "replace", "path": "displayName", "value": "Alice L."})
    with committed():
        assert scim.patch(f"Users/{identity.scim_id}", body).status_code == 200
    assert received.names() == [("user_updated", "scim")]
    assert received.kwargs("user_updated") == user_kwargs(scim.connection, identity)


def test_scim_put_of_an_attribute_sends_user_updated(
    scim: ScimClient, received: Received, committed: Committed
) -> None:
    identity = posted(scim)
    with committed():
        response = scim.put(f"Users/{identity.scim_id}", okta_user(displayName="Alice L."))
        assert response.status_code == 200
    assert received.names() == [("user_updated", "scim")]
    assert received.kwargs("user_updated") == user_kwargs(scim.connection, identity)


def test_scim_put_of_a_password_sends_user_updated(
    scim: ScimClient, received: Received, committed: Committed
) -> None:
    identity = posted(scim)
    with committed():
        response = scim.put(f"Users/{identity.scim_id}", okta_user(password="N3w-passw0rd!"))
        assert response.status_code == 200
    assert received.names() == [("user_updated", "scim")]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_scim_write_that_changes_nothing_sends_nothing(
    scim: ScimClient, received: Received, committed: Committed, method: str
) -> None:
    identity = posted(scim)
    body = (
        okta_user()
        if method == "put"
        else patch_body({"op": "replace", "path": "displayName", "value": "Alice Liddell"})
    )
    with committed():
        response = getattr(scim, method)(f"Users/{identity.scim_id}", body)
        assert response.status_code == 200
    assert received.names() == []


@pytest.mark.parametrize("method", ["put", "patch"])
def test_scim_deactivation_sends_user_deactivated_only(
    scim: ScimClient, received: Received, committed: Committed, method: str
) -> None:
    identity = posted(scim)
    body = (
        okta_user(active=False)
        if method == "put"
        else patch_body({"op": "replace", "value": {"active": False}})
    )
    with committed():
        response = getattr(scim, method)(f"Users/{identity.scim_id}", body)
        assert response.status_code == 200
    assert received.names() == [("user_deactivated", "scim")]
    assert received.kwargs("user_deactivated") == user_kwargs(scim.connection, identity)


def test_scim_deactivation_with_an_attribute_change_sends_both(
    scim: ScimClient, received: Received, committed: Committed
) -> None:
    identity = posted(scim)
    body = patch_body(
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "path": "displayName", "value": "Alice L."},
    )
    with committed():
        assert scim.patch(f"Users/{identity.scim_id}", body).status_code == 200
    assert received.names() == [("user_deactivated", "scim"), ("user_updated", "scim")]
    assert received.kwargs("user_updated") == user_kwargs(scim.connection, identity)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_scim_reactivation_sends_user_reactivated_only(
    scim: ScimClient, received: Received, committed: Committed, method: str
) -> None:
    identity = posted(scim, active=False)
    body = (
        okta_user(active=True)
        if method == "put"
        else patch_body({"op": "replace", "path": "active", "value": True})
    )
    with committed():
        response = getattr(scim, method)(f"Users/{identity.scim_id}", body)
        assert response.status_code == 200
    assert received.names() == [("user_reactivated", "scim")]
    assert received.kwargs("user_reactivated") == user_kwargs(scim.connection, identity)


def test_scim_reactivation_with_an_attribute_change_sends_both(
    scim: ScimClient, received: Received, committed: Committed
) -> None:
    identity = posted(scim, active=False)
    with committed():
        response = scim.put(
            f"Users/{identity.scim_id}", okta_user(active=True, displayName="Alice L.")
        )
        assert response.status_code == 200
    assert received.names() == [("user_reactivated", "scim"), ("user_updated", "scim")]


# -------------------------------------------------------------------------------- DELETE


def test_scim_delete_under_deactivate_sends_deactivated_and_unlinked(
    scim: ScimClient, connection: Connection, received: Received, committed: Committed
) -> None:
    identity = posted(scim)
    with committed():
        assert scim.delete(f"Users/{identity.scim_id}").status_code == 204
    user = User.objects.get(pk=identity.user_id)
    assert user.is_active is False  # the account stays, deactivated
    assert received.names() == [("user_deactivated", "scim"), ("user_unlinked", "scim")]
    expected = user_kwargs(connection, identity)
    assert identity.deleted_at is not None
    assert received.kwargs("user_deactivated") == expected
    assert received.kwargs("user_unlinked") == expected


def test_scim_delete_under_deactivate_of_an_inactive_account_sends_unlinked_only(
    scim: ScimClient, connection: Connection, received: Received, committed: Committed
) -> None:
    identity = posted(scim, active=False)
    with committed():
        assert scim.delete(f"Users/{identity.scim_id}").status_code == 204
    assert received.names() == [("user_unlinked", "scim")]
    assert received.kwargs("user_unlinked") == user_kwargs(connection, identity)


def test_scim_delete_under_delete_sends_user_deleted(
    scim: ScimClient, connection: Connection, received: Received, committed: Committed
) -> None:
    connection.deprovision_policy = "delete"
    connection.save()
    identity = posted(scim)
    user_pk, scim_id = identity.user_id, identity.scim_id
    with committed():
        assert scim.delete(f"Users/{scim_id}").status_code == 204
    assert not User.objects.filter(pk=user_pk).exists()
    assert received.names() == [("user_deleted", "scim")]
    sent = received.kwargs("user_deleted")
    assert set(sent) == {"connection", "user", "identity", "user_id"}
    assert sent["connection"] == Is(connection)
    assert sent["user_id"] == user_pk  # the deleted rows have no primary key any more
    assert sent["user"].pk is None and sent["user"].get_username() == "alice@example.com"
    assert sent["identity"].scim_id == scim_id and sent["identity"].deleted_at is None
    assert not ExternalIdentity.objects.filter(scim_id=scim_id).exists()
    assert sent["identity"].user is sent["user"]


def test_scim_delete_under_delete_of_a_shared_account_sends_unlinked_only(
    scim: ScimClient,
    connection: Connection,
    other_connection: Connection,
    received: Received,
    committed: Committed,
) -> None:
    connection.deprovision_policy = "delete"
    connection.save()
    identity = posted(scim)
    ExternalIdentity.objects.create(  # the same account, linked by another customer too
        connection=other_connection,
        user=identity.user,
        user_name="alice@example.com",
        user_name_normalized="alice@example.com",
    )
    with committed():
        assert scim.delete(f"Users/{identity.scim_id}").status_code == 204
    assert User.objects.filter(pk=identity.user_id).exists()  # kept for the other connection
    assert received.names() == [("user_unlinked", "scim")]
    sent = received.kwargs("user_unlinked")
    assert set(sent) == {"connection", "user", "identity"}
    assert sent["connection"] == Is(connection) and sent["user"] == Is(identity.user)
    assert sent["identity"].pk is None and sent["identity"].scim_id == identity.scim_id


# ---------------------------------------------------------------------------------- SAML


def saml_kwargs(connection: Connection, *, created: bool) -> dict[str, Any]:
    identity = ExternalIdentity.objects.get(connection=connection)
    return {
        **user_kwargs(connection, identity),
        "request": Request(identity.user),
        "created": created,
    }


def test_saml_jit_create_sends_created_and_logged_in(
    browser: Browser,
    saml_connection: Connection,
    received: Received,
    committed: Committed,
) -> None:
    with committed():
        assert browser.sign_in().status_code == 302
    assert received.names() == [("user_created", "saml"), ("saml_user_logged_in", "saml")]
    expected = saml_kwargs(saml_connection, created=True)
    assert received.kwargs("saml_user_logged_in") == expected
    del expected["request"], expected["created"]
    assert received.kwargs("user_created") == expected


def test_saml_link_of_an_existing_account_sends_linked_and_logged_in(
    browser: Browser,
    saml_connection: Connection,
    received: Received,
    committed: Committed,
) -> None:
    saml_connection.link_by_email = True
    saml_connection.save()
    existing = local_user()
    with committed():
        assert browser.sign_in().status_code == 302
    assert ExternalIdentity.objects.get().user_id == existing.pk
    assert received.names() == [("user_linked", "saml"), ("saml_user_logged_in", "saml")]
    expected = saml_kwargs(saml_connection, created=False)
    assert received.kwargs("saml_user_logged_in") == expected
    del expected["request"], expected["created"]
    assert received.kwargs("user_linked") == expected


def test_saml_jit_update_sends_updated_and_logged_in(
    browser: Browser,
    saml_connection: Connection,
    received: Received,
    committed: Committed,
) -> None:
    assert browser.sign_in().status_code == 302
    renamed = {"email": ["alice@example.com"], "firstName": ["Alicia"], "lastName": ["Liddell"]}
    with committed():
        assert browser.sign_in(attributes=renamed).status_code == 302
    assert received.names() == [("user_updated", "saml"), ("saml_user_logged_in", "saml")]
    expected = saml_kwargs(saml_connection, created=False)
    assert received.kwargs("saml_user_logged_in") == expected
    del expected["request"], expected["created"]
    assert received.kwargs("user_updated") == expected


@pytest.mark.parametrize("jit_update", [True, False])
def test_saml_sign_in_without_change_sends_logged_in_only(
    browser: Browser,
    saml_connection: Connection,
    received: Received,
    committed: Committed,
    jit_update: bool,
) -> None:
    assert browser.sign_in().status_code == 302
    saml_connection.jit_update = jit_update
    saml_connection.save()
    renamed = {"email": ["alice@example.com"], "firstName": ["Alicia"], "lastName": ["Liddell"]}
    with committed():  # without jit_update, a changed attribute is not applied: no change
        assert browser.sign_in(attributes=None if jit_update else renamed).status_code == 302
    assert received.names() == [("saml_user_logged_in", "saml")]
    assert received.kwargs("saml_user_logged_in") == saml_kwargs(saml_connection, created=False)


def test_saml_refused_sign_in_of_a_deactivated_account_sends_nothing(
    browser: Browser,
    saml_connection: Connection,
    received: Received,
    committed: Committed,
) -> None:
    assert browser.sign_in().status_code == 302
    deactivate_user(ExternalIdentity.objects.get())
    renamed = {"email": ["alice@example.com"], "firstName": ["Alicia"], "lastName": ["Liddell"]}
    with committed():
        assert browser.sign_in(attributes=renamed).status_code == 403
    assert received.names() == []


def test_saml_refused_sign_in_of_an_unknown_user_sends_nothing(
    browser: Browser,
    saml_connection: Connection,
    received: Received,
    committed: Committed,
) -> None:
    saml_connection.jit_create = False
    saml_connection.save()
    with committed():
        assert browser.sign_in().status_code == 403
    assert received.names() == []
    assert not ExternalIdentity.objects.exists()


class VetoAdapter(DefaultAdapter):
    def pre_saml_login(self, request: Any, connection: Any, user: Any, saml_data: Any) -> None:
        raise ProvisioningDenied("Sign-in is closed for maintenance.")


def test_saml_sign_in_vetoed_after_jit_create_sends_nothing(
    browser: Browser,
    saml_connection: Connection,
    received: Received,
    committed: Committed,
    settings: Any,
) -> None:
    """The account was created, then the sign-in refused: the creation is rolled back, and the
    ``user_created`` it queued is never sent."""
    settings.DJANGO_PROVISIONING = {"ADAPTER": "tests.test_signals.VetoAdapter"}
    with committed():
        assert browser.sign_in().status_code == 403
    assert not ExternalIdentity.objects.exists()
    assert received.names() == []


# ------------------------------------------------------------------------- after commit


def test_a_rolled_back_savepoint_sends_nothing(
    connection: Connection, received: Received, committed: Committed
) -> None:
    with committed():
        with pytest.raises(RuntimeError), transaction.atomic():
            scim_user(connection)
            raise RuntimeError("the caller's transaction fails after the core's write")
    assert received.names() == []
    assert not ExternalIdentity.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_signals_wait_for_a_real_commit_and_die_with_a_rollback(received: Received) -> None:
    """Against the database's own transactions, not the test's captured callbacks."""
    connection = ConnectionFactory(slug="acme", verified_domains=["example.com"])
    with pytest.raises(RuntimeError), transaction.atomic():
        scim_user(connection, "bob@example.com")
        raise RuntimeError("rolled back")
    assert received.names() == []
    with transaction.atomic():
        identity = scim_user(connection)
        assert received.names() == []  # inside the transaction: not yet
    assert received.names() == [("user_created", "scim")]
    assert received.kwargs("user_created") == user_kwargs(connection, identity)
