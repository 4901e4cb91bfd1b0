"""How long an assertion is accepted and its replay row kept, and how expired state is pruned.

An IdP may set NotOnOrAfter years ahead; an assertion is accepted only until the earlier of
that and its IssueInstant + SAML_MAX_ASSERTION_AGE + the connection's clock skew, and its
replay row is kept exactly that long. Expired replay rows and pending logins are pruned by
``manage.py prune_saml_state`` and, a bounded batch at a time, by the ACS itself.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from django_provisioning.models import (
    Connection,
    ExternalIdentity,
    SamlAssertionReplay,
    SamlPendingLogin,
)
from django_provisioning.saml import replay, state

from .conftest import Browser

User = get_user_model()
pytestmark = pytest.mark.django_db
TEN_YEARS = dt.timedelta(days=3652)


def seconds(when: dt.datetime) -> dt.datetime:
    """*when* as a SAML timestamp carries it (whole seconds)."""
    return when.replace(microsecond=0)


def sign_in_issued(browser: Browser, issued: dt.datetime, **kwargs: Any) -> tuple[Any, bytes]:
    """Start a sign-in and post a response issued at *issued*, valid for ten years."""
    request, relay_state = browser.start()
    xml = browser.response_for(
        request, issue_instant=issued, not_on_or_after=timezone.now() + TEN_YEARS, **kwargs
    )
    return browser.post(xml, relay_state), xml


def assert_refused(response: Any, text: str) -> None:
    body = response.content.decode()
    assert response.status_code == 400, body
    assert "Sign-in failed" in body and text in body
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert not SamlAssertionReplay.objects.exists()
    assert not SamlPendingLogin.objects.exists()


# ---------------------------------------------------------------------- maximum age


def test_old_assertion_with_a_far_not_on_or_after_is_refused(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    """Issued 11 minutes ago: past 10 minutes + 30 s of skew, whatever NotOnOrAfter says."""
    saml_connection.clock_skew = 30
    saml_connection.save()
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response, _xml = sign_in_issued(browser, timezone.now() - dt.timedelta(minutes=11))
    assert_refused(response, "has expired")
    assert any("SAML_MAX_ASSERTION_AGE" in r.getMessage() for r in caplog.records)


def test_the_clock_skew_adds_to_the_maximum_age(browser: Browser) -> None:
    """With the default 120 s of skew, 11 minutes is accepted and 12 minutes + 5 s is not."""
    late, _xml = sign_in_issued(browser, timezone.now() - dt.timedelta(minutes=11))
    assert browser.finish(late).status_code == 302
    SamlAssertionReplay.objects.all().delete()
    User.objects.all().delete()
    too_late, _xml = sign_in_issued(browser, timezone.now() - dt.timedelta(minutes=12, seconds=5))
    assert_refused(too_late, "has expired")


def test_recent_assertion_is_accepted_and_its_replay_row_expires_with_its_age(
    browser: Browser, saml_connection: Connection
) -> None:
    issued = seconds(timezone.now() - dt.timedelta(minutes=1))
    step1, xml = sign_in_issued(browser, issued)
    assert browser.finish(step1).status_code == 302
    assert browser.who() == "home: alice@example.com"
    row = SamlAssertionReplay.objects.get()
    assert row.expires_at == issued + dt.timedelta(seconds=600 + saml_connection.clock_skew)

    replayed = Browser(browser.idp).post(xml)
    assert replayed.status_code == 400
    assert "already been used" in replayed.content.decode()
    assert SamlAssertionReplay.objects.count() == 1


def test_not_on_or_after_sooner_than_the_maximum_age_still_bounds_the_row(
    browser: Browser, saml_connection: Connection
) -> None:
    request, relay_state = browser.start()
    soon = seconds(timezone.now() + dt.timedelta(minutes=2))
    xml = browser.response_for(request, not_on_or_after=soon)
    assert browser.finish(browser.post(xml, relay_state)).status_code == 302
    row = SamlAssertionReplay.objects.get()
    assert row.expires_at == soon + dt.timedelta(seconds=saml_connection.clock_skew)


def test_maximum_age_is_a_setting(browser: Browser, settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {**settings.DJANGO_PROVISIONING, "SAML_MAX_ASSERTION_AGE": 60}
    response, _xml = sign_in_issued(browser, timezone.now() - dt.timedelta(minutes=4))
    assert_refused(response, "has expired")


def test_issue_instant_in_the_future_is_refused(browser: Browser) -> None:
    """Otherwise a hostile IdP would move the age window (and the row) into the future."""
    response, _xml = sign_in_issued(browser, timezone.now() + dt.timedelta(days=365))
    assert_refused(response, "not valid yet")


# ---------------------------------------------------------------------- pruning


def _rows(connection: Connection, expired: int, live: int) -> None:
    now = timezone.now()
    SamlAssertionReplay.objects.bulk_create(
        [
            SamlAssertionReplay(
                connection=connection,
                assertion_id=f"_old{i}",
                expires_at=now - dt.timedelta(seconds=1 + i),
            )
            for i in range(expired)
        ]
        + [
            SamlAssertionReplay(
                connection=connection,
                assertion_id=f"_live{i}",
                expires_at=now + dt.timedelta(minutes=5),
            )
            for i in range(live)
        ]
    )


def _pending(connection: Connection, expired: int, live: int) -> None:
    old = timezone.now() - dt.timedelta(seconds=state.PENDING_LOGIN_TTL + 1)
    SamlPendingLogin.objects.bulk_create(
        [
            SamlPendingLogin(connection=connection, key_checksum=f"old{i}", created_at=old)
            for i in range(expired)
        ]
        + [SamlPendingLogin(connection=connection, key_checksum=f"live{i}") for i in range(live)]
    )


def test_command_prunes_expired_rows_and_keeps_live_ones(saml_connection: Connection) -> None:
    _rows(saml_connection, expired=250, live=3)
    _pending(saml_connection, expired=4, live=2)
    out = StringIO()
    call_command("prune_saml_state", "--batch-size", "100", stdout=out)
    assert out.getvalue().strip() == (
        "Deleted 250 expired replay-cache row(s) and 4 expired pending login(s)."
    )
    assert sorted(SamlAssertionReplay.objects.values_list("assertion_id", flat=True)) == [
        "_live0",
        "_live1",
        "_live2",
    ]
    assert sorted(SamlPendingLogin.objects.values_list("key_checksum", flat=True)) == [
        "live0",
        "live1",
    ]
    again = StringIO()
    call_command("prune_saml_state", stdout=again)
    assert "Deleted 0 expired replay-cache row(s) and 0 expired pending login(s)." in (
        again.getvalue()
    )


def test_command_is_quiet_at_verbosity_zero(saml_connection: Connection) -> None:
    _rows(saml_connection, expired=1, live=0)
    out = StringIO()
    call_command("prune_saml_state", verbosity=0, stdout=out)
    assert out.getvalue() == ""
    assert not SamlAssertionReplay.objects.exists()


def test_sign_in_prunes_a_bounded_batch(
    browser: Browser, saml_connection: Connection, django_assert_max_num_queries: Any
) -> None:
    """Normal operation prunes: each first ACS step removes at most PRUNE_BATCH expired rows
    of each kind, oldest first, in a fixed number of queries."""
    _rows(saml_connection, expired=replay.PRUNE_BATCH + 7, live=2)
    _pending(saml_connection, expired=replay.PRUNE_BATCH + 3, live=1)
    request, relay_state = browser.start()
    xml = browser.response_for(request)
    with django_assert_max_num_queries(8):
        step1 = browser.post(xml, relay_state)
    assert step1.status_code == 303
    left = set(SamlAssertionReplay.objects.values_list("assertion_id", flat=True))
    # The 7 most recently expired remain; the oldest went first.
    assert left == {f"_old{i}" for i in range(7)} | {"_live0", "_live1", xml_assertion_id(xml)}
    assert SamlPendingLogin.objects.filter(key_checksum__startswith="old").count() == 3
    assert browser.finish(step1).status_code == 302

    request, relay_state = browser.start()
    assert browser.post(browser.response_for(request), relay_state).status_code == 303
    assert not SamlAssertionReplay.objects.filter(assertion_id__startswith="_old").exists()
    assert not SamlPendingLogin.objects.filter(key_checksum__startswith="old").exists()
    assert SamlPendingLogin.objects.filter(key_checksum="live0").exists()


def xml_assertion_id(xml: bytes) -> str:
    from .idp import NS, tree

    assertion = tree(xml).find("saml:Assertion", NS)
    assert assertion is not None
    return str(assertion.get("ID"))
