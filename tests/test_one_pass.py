"""One pass per request: each request computes each thing once and passes it on.

A SCIM write and a SAML sign-in are counted call by call: rendering a user to a document
(``DefaultAdapter.user_to_document``), validating a document
(``schema.document.canonicalize``), looking for a local user a connection may link
(``provisioning.find_linkable_user``) and asking whether an account is active
(``DefaultAdapter.is_user_active``).

What "once" means: once per *state* of the user a request has to look at. A write that changes
the user sees up to three, and renders each once:

* **stored**: the user as the locked rows hold them, before the request. A PATCH applies its
  operations to it, a PUT checks immutable attributes against it, and the "did anything
  change?" test compares with it. The core renders it once, under the lock, and hands it to the
  door's change callback.
* **proposed**: the new values put on the user object, not yet saved. Comparing it with the
  stored state decides whether anything a client can read changes (nothing: no write, same
  version, RFC 7232 §2.3). It must be rendered before the save, since it decides whether to save.
* **saved**: the user after the adapter's ``save_user`` (``full_clean`` normalises values: the
  e-mail's domain case, the username's Unicode form). The value index holds it and the response
  renders it: the core renders it once, in the write, and returns it to the door.

A new user has only the saved state. The active check follows the same rule: the state found
(a deactivated account is refused before anything is written) and the proposed one (a
deactivation ends sessions; a sign-in never reactivates, and signs in only an active account).
On a retry of the write transaction the core starts again from the database, and computes
everything again: once per attempt.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db
from django.test import override_settings

# Imported before any counting starts: a module imported while a function is replaced would
# bind the counting wrapper for good (``from x import f`` copies the name).
import django_provisioning.saml.views
import django_provisioning.scim.views  # noqa: F401
from django_provisioning import provisioning
from django_provisioning.adapter import DefaultAdapter
from django_provisioning.models import Connection, ExternalIdentity
from django_provisioning.schema import document as schema_document
from tests.factories import ConnectionFactory
from tests.saml.conftest import Browser, sp_metadata
from tests.saml.idp import TestIdP, idp_options
from tests.tools import FailingDatabase, deadlock

from .conftest import ScimClient
from .scim.bodies import patch_body

RENDER = "user_to_document"
VALIDATE = "canonicalize"
LINKABLE = "find_linkable_user"
ACTIVE = "is_user_active"


class Calls:
    """Counts the calls of the functions this module watches, wherever they are imported."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: Counter[str] = Counter()
        for name in (RENDER, ACTIVE):
            self._method(monkeypatch, name)
        self._function(monkeypatch, schema_document.canonicalize)
        self._function(monkeypatch, provisioning.find_linkable_user)

    def _method(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        real = getattr(DefaultAdapter, name)

        def counting(adapter: Any, *args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return real(adapter, *args, **kwargs)

        monkeypatch.setattr(DefaultAdapter, name, counting)

    def _function(self, monkeypatch: pytest.MonkeyPatch, real: Callable[..., Any]) -> None:
        """Replace *real* in every module of the package that holds it (``from x import f``
        binds a name of its own in the importing module)."""
        name = real.__name__

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return real(*args, **kwargs)

        holders = [
            module
            for module_name, module in list(sys.modules.items())
            if module_name.startswith("django_provisioning") and getattr(module, name, None) is real
        ]
        assert holders, f"{name} is not imported anywhere"
        for module in holders:
            monkeypatch.setattr(module, name, counting)

    def __call__(self) -> dict[str, int]:
        return {name: self.counts[name] for name in (RENDER, VALIDATE, LINKABLE, ACTIVE)}

    def reset(self) -> None:
        self.counts.clear()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    yield Calls(monkeypatch)


def created_user(scim: ScimClient, calls: Calls) -> str:
    """A user POSTed over SCIM (not counted); returns its id."""
    response = scim.post(
        "Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@example.com",
            "name": {"givenName": "Alice", "familyName": "Liddell"},
            "emails": [{"value": "alice@example.com", "type": "work", "primary": True}],
            "displayName": "Alice Liddell",
            "active": True,
        },
    )
    assert response.status_code == 201, response.content
    calls.reset()
    return str(response.json()["id"])


# ------------------------------------------------------------------------------------ SCIM


def test_post_renders_once_and_answers_with_that_document(scim: ScimClient, calls: Calls) -> None:
    response = scim.post(
        "Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "bob@example.com",
            "emails": [{"value": "Bob@EXAMPLE.com", "type": "work", "primary": True}],
            "displayName": "Bob",
        },
    )

    assert response.status_code == 201, response.content
    # One render: the saved user, for the value index and the response. One validation of
    # the body; one search for a linkable user; no active check (a new user has no state
    # found, and SCIM may create an inactive one).
    assert calls() == {RENDER: 1, VALIDATE: 1, LINKABLE: 1, ACTIVE: 0}
    # The response is the user as saved, the document the value index was made of (with
    # ``auth.User``, whose full_clean normalises the e-mail's domain: ``Bob@example.com``).
    indexed = ExternalIdentity.objects.get().values.get(attribute="emails").value
    assert response.json()["emails"][0]["value"] == indexed
    if get_user_model()._meta.label == "auth.User":
        assert indexed == "Bob@example.com"


def test_patch_renders_each_state_once_and_validates_once(scim: ScimClient, calls: Calls) -> None:
    scim_id = created_user(scim, calls)

    response = scim.patch(
        f"Users/{scim_id}",
        patch_body({"op": "replace", "path": "displayName", "value": "Alice L."}),
    )

    assert response.status_code == 200, response.content
    assert response.json()["displayName"] == "Alice L."
    # Three states, each rendered once (stored, proposed, saved: see the module docstring);
    # the PATCH result validated once; no linkable-user search; active read for the stored
    # and the proposed state (a deactivation must end sessions).
    assert calls() == {RENDER: 3, VALIDATE: 1, LINKABLE: 0, ACTIVE: 2}


def test_patch_that_changes_nothing_renders_two_states(scim: ScimClient, calls: Calls) -> None:
    scim_id = created_user(scim, calls)
    version = scim.get(f"Users/{scim_id}").json()["meta"]["version"]
    calls.reset()

    response = scim.patch(
        f"Users/{scim_id}",
        patch_body({"op": "replace", "path": "displayName", "value": "Alice Liddell"}),
    )

    assert response.status_code == 200, response.content
    assert response.json()["meta"]["version"] == version  # nothing written
    # Stored and proposed: equal, so nothing is saved and there is no third state.
    assert calls() == {RENDER: 2, VALIDATE: 1, LINKABLE: 0, ACTIVE: 2}


def test_put_renders_each_state_once_and_validates_once(scim: ScimClient, calls: Calls) -> None:
    scim_id = created_user(scim, calls)

    response = scim.put(
        f"Users/{scim_id}",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@example.com",
            "emails": [{"value": "alice@example.com", "type": "work", "primary": True}],
            "displayName": "Alice L.",
        },
    )

    assert response.status_code == 200, response.content
    assert response.json()["displayName"] == "Alice L."
    # As for PATCH: the stored state (immutability check and the comparison), the proposed
    # one, the saved one; the body validated once.
    assert calls() == {RENDER: 3, VALIDATE: 1, LINKABLE: 0, ACTIVE: 2}


def test_the_response_is_the_document_the_core_wrote(scim: ScimClient, calls: Calls) -> None:
    """The door renders what the core returns: the value index and the body agree."""
    scim_id = created_user(scim, calls)

    response = scim.patch(
        f"Users/{scim_id}",
        patch_body(
            {"op": "add", "path": "emails", "value": [{"value": "a@Home.EXAMPLE", "type": "home"}]}
        ),
    )

    assert response.status_code == 200, response.content
    identity = ExternalIdentity.objects.get(scim_id=scim_id)
    indexed = sorted(identity.values.filter(attribute="emails").values_list("value", flat=True))
    answered = sorted(e["value"] for e in response.json()["emails"])
    assert answered == indexed == ["a@Home.EXAMPLE", "alice@example.com"]


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_PROVISIONING={"WRITE_ATTEMPTS": 3, "WRITE_RETRY_BACKOFF": 0})
def test_a_retried_patch_computes_again_once_per_attempt(scim: ScimClient, calls: Calls) -> None:
    """Nothing computed by a failed attempt is carried into the next: it starts from the
    database again, under new locks."""
    scim_id = created_user(scim, calls)
    user_update = f'UPDATE "{get_user_model()._meta.db_table}"'
    failing = FailingDatabase(deadlock, match=user_update, times=1)

    with db.execute_wrapper(failing):
        response = scim.patch(
            f"Users/{scim_id}",
            patch_body({"op": "replace", "path": "displayName", "value": "Alice L."}),
        )

    assert response.status_code == 200, response.content
    assert failing.calls == 1
    assert response.json()["meta"]["version"] == 'W/"2"'
    assert ExternalIdentity.objects.get().document["displayName"] == "Alice L."
    # Attempt 1 renders the stored and the proposed state, then fails saving the user;
    # attempt 2 renders the stored, proposed and saved states. Each validates the result once
    # and reads active twice.
    assert calls() == {RENDER: 2 + 3, VALIDATE: 1 + 1, LINKABLE: 0, ACTIVE: 2 + 2}


# ------------------------------------------------------------------------------------ SAML


@pytest.fixture
def saml_connection(db: Any) -> Connection:
    return ConnectionFactory(
        slug="acme",
        name="Acme",
        verified_domains=["example.com"],
        **idp_options(),
    )


@pytest.fixture
def browser(saml_connection: Connection) -> Browser:
    return Browser(TestIdP(sp_metadata(saml_connection)))


def test_sign_in_of_a_new_user_computes_each_thing_once(browser: Browser, calls: Calls) -> None:
    response = browser.sign_in()

    assert response.status_code == 302, response.content
    assert browser.who() == "home: alice@example.com"
    calls.counts[ACTIVE] -= 1  # browser.who(): the next request's session check (get_user)
    # The new user rendered once (the value index); the assertion's document validated once;
    # one linkable-user search; one active check (only an active account is signed in).
    assert calls() == {RENDER: 1, VALIDATE: 1, LINKABLE: 1, ACTIVE: 1}


def test_sign_in_of_a_returning_user_computes_each_thing_once(
    browser: Browser, calls: Calls
) -> None:
    assert browser.sign_in().status_code == 302
    calls.reset()

    response = Browser(browser.idp).sign_in(attributes={"displayName": ["Alice L."]})

    assert response.status_code == 302, response.content
    assert ExternalIdentity.objects.get().user.get_username() == "alice@example.com"
    # The attributes refresh (jit_update): the stored, proposed and saved states, each
    # rendered once; no linkable-user search (the link row is found); active read for the
    # account found (a deactivated one is refused) and as the sign-in leaves it (a sign-in never
    # reactivates; it signs in only an active account).
    assert calls() == {RENDER: 3, VALIDATE: 1, LINKABLE: 0, ACTIVE: 2}


def test_sign_in_without_changes_writes_nothing_and_checks_active_once(
    browser: Browser, saml_connection: Connection, calls: Calls
) -> None:
    assert browser.sign_in().status_code == 302
    saml_connection.jit_update = False
    saml_connection.save()
    calls.reset()

    response = Browser(browser.idp).sign_in()

    assert response.status_code == 302, response.content
    # No refresh: nothing rendered; one active check, of the account found.
    assert calls() == {RENDER: 0, VALIDATE: 1, LINKABLE: 0, ACTIVE: 1}
