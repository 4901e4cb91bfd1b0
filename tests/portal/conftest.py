"""Fixtures of the setup-portal tests: a connection, its link, and a browser that opened it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.test import Client

from django_provisioning.models import Connection, SetupLink
from django_provisioning.portal.links import create_link
from tests.factories import ConnectionFactory


@pytest.fixture
def connection(db: Any) -> Connection:
    return ConnectionFactory(slug="acme", name="Acme")


class Portal:
    """One browser (a test client with its own cookies) and the link it opened."""

    def __init__(self, url: str, *, enforce_csrf: bool = False) -> None:
        self.url = url
        self.client = Client(enforce_csrf_checks=enforce_csrf)
        self.home = ""

    @property
    def path(self) -> str:
        return urlparse(self.url).path

    def open(self) -> Any:
        """GET the link and, on the page that asks to, continue (the POST that binds)."""
        response = self.client.get(self.path)
        if response.status_code == 200 and b'id="continue-setup"' in response.content:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text)
            assert token is not None
            response = self.client.post(self.path, {"csrfmiddlewaretoken": token[1]})
        if response.status_code == 302:
            self.home = response["Location"]
        return response

    def page(self, suffix: str = "") -> str:
        return self.home + suffix


def new_link(connection: Connection, **kwargs: Any) -> tuple[SetupLink, str]:
    return create_link(connection, created_by="tests", **kwargs)


@pytest.fixture
def link_url(connection: Connection) -> str:
    return new_link(connection)[1]


@pytest.fixture
def portal(link_url: str) -> Portal:
    browser = Portal(link_url)
    assert browser.open().status_code == 302
    return browser
