"""The two doors racing for one account, with real threads on PostgreSQL.

A SAML sign-in (ACS step 2, where JIT provisioning happens) and a SCIM request arrive at the
same moment. Both doors lock the link row, then the user row, and decide under those locks, so
whichever comes second sees what the first wrote: a deactivation is never undone by a sign-in,
and a sign-in racing the SCIM POST of the same person ends in one account, signed in.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save
from django.test import Client

from django_provisioning.models import (
    AuditEvent,
    Connection,
    ExternalIdentity,
    SamlPendingLogin,
    UserSession,
)
from django_provisioning.provisioning import effective_document
from django_provisioning.tokens import issue_token
from tests.concurrency import race
from tests.conftest import ScimClient
from tests.scim.bodies import patch_body
from tests.tools import require_postgresql

from .conftest import Browser

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()
ROUNDS = 25


@pytest.fixture
def both_doors(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.urls"  # SCIM and SAML on one site


@pytest.fixture
def scim_acme(saml_connection: Connection, both_doors: None) -> ScimClient:
    _token, raw = issue_token(saml_connection, name="races")
    return ScimClient(saml_connection, raw)


@pytest.fixture
def committed_versions() -> Any:
    """(link row pk, version) -> the set of contents committed under it."""
    seen: dict[tuple[int, int], set[str]] = {}

    def record(sender: Any, instance: ExternalIdentity, **kwargs: Any) -> None:
        content = json.dumps(effective_document(instance), sort_keys=True)
        key = (instance.pk, instance.version)
        transaction.on_commit(lambda: seen.setdefault(key, set()).add(content))

    post_save.connect(record, sender=ExternalIdentity, dispatch_uid="races-versions")
    yield seen
    post_save.disconnect(sender=ExternalIdentity, dispatch_uid="races-versions")


def active_patch(active: bool) -> dict[str, Any]:
    return patch_body({"op": "replace", "value": {"active": active}})


def test_sign_in_racing_deactivation_never_undoes_it(
    browser: Browser, scim_acme: ScimClient, committed_versions: Any
) -> None:
    require_postgresql()
    created = scim_acme.post(
        "Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@example.com",
            "emails": [{"value": "alice@example.com", "primary": True}],
        },
    )
    assert created.status_code == 201, created.content
    user_id = created.json()["id"]
    user = ExternalIdentity.objects.get(scim_id=user_id).user
    outcomes: set[int] = set()
    for round_ in range(ROUNDS):
        assert scim_acme.patch(f"Users/{user_id}", active_patch(True)).status_code == 200
        request, relay_state = browser.start()
        # A new first name each round, so the JIT update really writes the user.
        attributes = {"email": ["alice@example.com"], "firstName": [f"Alice {round_}"]}
        step1 = browser.post(browser.response_for(request, attributes=attributes), relay_state)
        assert step1.status_code == 303, step1.content
        last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()

        sign_in, deactivation = race(
            lambda step1=step1: browser.finish(step1),
            lambda: scim_acme.patch(f"Users/{user_id}", active_patch(False)),
        )

        assert deactivation.status_code == 200, deactivation.content
        assert deactivation.json()["active"] is False
        # Signed in before the deactivation (then signed out by it), or refused after it.
        assert sign_in.status_code in (302, 403), sign_in.content
        outcomes.add(sign_in.status_code)
        user.refresh_from_db()
        assert not user.is_active, f"round {round_}: the sign-in undid the deactivation"
        assert browser.who() == "home: anonymous"
        assert not UserSession.objects.filter(user=user).exists()
        events = list(
            AuditEvent.objects.filter(pk__gt=last_event)
            .order_by("pk")
            .values_list("source", "action")
        )
        assert ("saml", "reactivate") not in events
        deactivated_at = events.index(("scim", "deactivate"))
        # After the deactivation only SCIM writes; a refused sign-in is audited, not a write.
        writes = [(s, a) for s, a in events[deactivated_at:] if a != "signin_refused"]
        assert all(source == "scim" for source, _ in writes), events
    clashes = {key: contents for key, contents in committed_versions.items() if len(contents) > 1}
    assert not clashes, f"one version, several contents: {clashes}"
    assert AuditEvent.objects.filter(source="saml", action="reactivate").count() == 0
    assert outcomes  # at least one round ran


def test_jit_racing_scim_post_ends_in_one_account_signed_in(
    browser: Browser, scim_acme: ScimClient, saml_connection: Connection
) -> None:
    require_postgresql()
    posts: set[int] = set()
    for round_ in range(ROUNDS):
        email = f"person{round_}@example.com"
        request, relay_state = browser.start()
        attributes = {"email": [email], "firstName": ["Pat"], "lastName": [f"Round {round_}"]}
        step1 = browser.post(
            browser.response_for(request, name_id=email, attributes=attributes), relay_state
        )
        assert step1.status_code == 303, step1.content
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email,
            "externalId": f"ext-{round_}",
            "emails": [{"value": email, "primary": True}],
        }

        sign_in, post = race(
            lambda step1=step1: browser.finish(step1),
            lambda body=body: scim_acme.post("Users", body),
        )

        # The POST wins (201) or finds the account JIT made first (409, as for any taken
        # userName); the sign-in is never refused.
        assert post.status_code in (201, 409), post.content
        if post.status_code == 409:
            assert post.json()["scimType"] == "uniqueness"
        posts.add(post.status_code)
        assert sign_in.status_code == 302, sign_in.content
        assert browser.who() == f"home: {email}"
        users = User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": email})
        assert users.count() == 1
        links = ExternalIdentity.objects.filter(connection=saml_connection, user=users.get())
        assert links.count() == 1
        found = scim_acme.get("Users", {"filter": f'userName eq "{email}"'}).json()
        assert found["totalResults"] == 1
    assert posts


def test_step_two_followed_twice_at_once_signs_in_once(
    browser: Browser, saml_connection: Connection
) -> None:
    """The same second-step URL opened twice at the same moment (a double click, a replayed
    key): both read the pending login with its connection, and of the two DELETEs only one
    takes it; that request signs in, the other is refused, and one account and one session
    row come of it."""
    require_postgresql()
    for round_ in range(ROUNDS):
        fresh = Browser(browser.idp)  # signed out: each round's login() makes a new session
        request, relay_state = fresh.start()
        step1 = fresh.post(fresh.response_for(request), relay_state)
        assert step1.status_code == 303, step1.content
        twin = Client()
        twin.cookies = copy.deepcopy(fresh.client.cookies)  # the same browser session
        url = step1["Location"]
        first, second = race(
            lambda one=fresh.client, url=url: one.get(url),
            lambda two=twin, url=url: two.get(url),
        )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [302, 400], (round_, first.content, second.content)
        refused = first if first.status_code == 400 else second
        assert "expired or was already used" in refused.content.decode()
        assert not SamlPendingLogin.objects.exists()
        assert User.objects.count() == 1
        assert UserSession.objects.count() == round_ + 1  # one more each round
