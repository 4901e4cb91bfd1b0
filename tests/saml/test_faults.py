"""SAML sign-in while the database fails: a "try again" page with 503, not "invalid response".

A 400 saying the identity provider's response was invalid sends administrators chasing
certificates; a locked or unreachable database is a temporary condition of this site.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db
from django.test import override_settings

from django_provisioning.models import AuditEvent, ExternalIdentity
from tests.tools import (
    FailingDatabase,
    connection_closed,
    connection_refused,
    database_locked,
    deadlock,
)

from .conftest import Browser

User = get_user_model()


def assert_try_again_page(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "temporarily unavailable" in page
    assert "try again" in page
    assert "not valid" not in page


@pytest.mark.parametrize(
    "error", [database_locked, connection_refused, connection_closed, deadlock]
)
def test_provisioning_while_the_database_fails(browser: Browser, error: Any) -> None:
    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)

    with db.execute_wrapper(FailingDatabase(error, match="INSERT")):
        response = browser.finish(step1)

    assert_try_again_page(response)
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert not AuditEvent.objects.exists()
    assert browser.who() == "home: anonymous"


@pytest.mark.parametrize("error", [database_locked, connection_refused])
def test_acs_while_the_database_is_down(browser: Browser, error: Any) -> None:
    request, relay_state = browser.start()
    xml = browser.response_for(request)

    with db.execute_wrapper(FailingDatabase(error)):
        response = browser.post(xml, relay_state)

    assert_try_again_page(response)


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_PROVISIONING={"WRITE_ATTEMPTS": 3, "WRITE_RETRY_BACKOFF": 0})
def test_a_deadlock_during_sign_in_is_retried(browser: Browser) -> None:
    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)
    failing = FailingDatabase(
        deadlock, match='INSERT INTO "django_provisioning_auditevent"', times=1
    )

    with db.execute_wrapper(failing):
        response = browser.finish(step1)

    assert response.status_code == 302, response.content
    assert failing.calls == 1
    assert browser.who() == "home: alice@example.com"
    assert User.objects.count() == ExternalIdentity.objects.count() == 1
    assert AuditEvent.objects.filter(action="create").count() == 1


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_PROVISIONING={"WRITE_ATTEMPTS": 3, "WRITE_RETRY_BACKOFF": 0})
def test_a_deadlock_is_retried_under_atomic_requests_too(browser: Browser) -> None:
    """The ACS opts out of ATOMIC_REQUESTS: the core owns the transaction it retries."""
    from django.db import connections

    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)
    failing = FailingDatabase(
        deadlock, match='INSERT INTO "django_provisioning_auditevent"', times=1
    )
    connections.settings["default"]["ATOMIC_REQUESTS"] = True
    try:
        with db.execute_wrapper(failing):
            response = browser.finish(step1)
    finally:
        connections.settings["default"]["ATOMIC_REQUESTS"] = False

    assert response.status_code == 302, response.content
    assert failing.calls == 1
    assert browser.who() == "home: alice@example.com"
