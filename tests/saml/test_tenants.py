"""The SAML door under a multi-tenant adapter: a sign-in attaches, or refuses, by tenant."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from django_provisioning.models import Connection, ExternalIdentity
from tests import tenancy
from tests.tenancy import join, members, tenant

from .conftest import Browser
from .test_acs import local_user

User = get_user_model()


@pytest.fixture(autouse=True)
def _tenants(db: Any, settings: Any) -> Any:
    settings.DJANGO_PROVISIONING = {**settings.DJANGO_PROVISIONING, "ADAPTER": tenancy.ADAPTER}
    tenancy.reset()
    tenant("acme")
    tenant("globex")
    yield
    tenancy.reset()


def test_a_sign_in_that_creates_the_account_attaches_it(
    browser: Browser, saml_connection: Connection
) -> None:
    browser.sign_in()

    assert browser.who() == "home: alice@example.com"
    assert members("acme") == {"alice@example.com"}


def test_a_sign_in_never_takes_another_tenants_account(
    browser: Browser, saml_connection: Connection
) -> None:
    saml_connection.link_by_email = True
    saml_connection.save()
    alice = local_user("alice@example.com")
    join(alice, "globex")

    response = browser.sign_in()

    assert response.status_code == 403
    assert "cannot be linked" in response.content.decode()
    assert not ExternalIdentity.objects.exists()
    assert members("acme") == set()
    assert "_auth_user_id" not in browser.client.session
