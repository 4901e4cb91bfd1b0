"""The example SaaS's organizations, under its own settings and its own adapter.

Run by ``tests/test_example_project.py`` (``pytest example_project/demo/tests.py
--ds=example_project.settings``), so what is tested is the adapter exactly as the example's
settings configure it, with its declared connection's ``"tenant"`` key, and the package's test
settings never install this app.
"""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from django_provisioning.adapter import get_adapter
from django_provisioning.connections import get_connection
from django_provisioning.jit import provision_from_saml
from django_provisioning.models import Connection, ExternalIdentity, NameIdFormat

from .adapter import OrganizationAdapter
from .models import Membership, Organization

User = get_user_model()
ORGANIZATION = re.compile(
    r"Organization:\s+(?P<name>.+?) \(connection (?P<slug>\S+), .*?\)\n"
    r"\s+SCIM base URL:\s+(?P<url>\S+)\n\s+Bearer token:\s+(?P<token>scim_\S+)"
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """The example's hasher is the real one, slow on purpose; tests only need it to work."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tokens() -> dict[str, str]:
    """``demo_setup`` run on the test database: connection slug -> the token it printed."""
    out = io.StringIO()
    call_command("demo_setup", "--no-admin", stdout=out)
    found = {m["slug"]: m for m in ORGANIZATION.finditer(out.getvalue())}
    assert set(found) == {"demo", "globex"}, out.getvalue()
    assert {m["url"] for m in found.values()} == {"http://127.0.0.1:8000/scim/v2/"}
    return {slug: m["token"] for slug, m in found.items()}


def post_user(token: str, user_name: str) -> Any:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "emails": [{"value": user_name, "primary": True}],
        "password": "Taken-over-1",
    }
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        "/scim/v2/Users", json.dumps(body), content_type="application/scim+json"
    )


def organizations_of(user_name: str) -> set[str]:
    return set(
        Membership.objects.filter(user__username=user_name).values_list(
            "organization__slug", flat=True
        )
    )


def local_user(name: str, *organizations: str, **extra: Any) -> Any:
    """An account the product created itself, member of *organizations*."""
    user = User.objects.create_user(username=name, email=name, password="keep-me-1", **extra)
    for slug in organizations:
        Membership.objects.create(user=user, organization=Organization.objects.get(slug=slug))
    return user


def globex_links_by_email() -> Connection:
    connection = Connection.objects.get(slug="globex")
    connection.link_by_email = True
    connection.save()
    return connection


def assert_untouched(user: Any) -> None:
    user.refresh_from_db()
    assert user.check_password("keep-me-1")
    assert not ExternalIdentity.objects.filter(user=user).exists()


def test_the_example_runs_the_organization_adapter() -> None:
    assert type(get_adapter()) is OrganizationAdapter


def test_two_organizations_each_with_its_own_connection(tokens: dict[str, str]) -> None:
    adapter = get_adapter()
    demo, globex = get_connection("demo"), get_connection("globex")
    assert demo is not None and globex is not None

    assert demo.declared_tenant == "demo"  # named in settings
    assert adapter.get_tenant(demo) == Organization.objects.get(slug="demo")
    assert globex.declared_tenant is None  # pointed at by its organization
    assert adapter.get_tenant(globex) == Organization.objects.get(slug="globex", connection=globex)
    assert [(o.slug, o.connection_slug) for o in Organization.objects.order_by("slug")] == [
        ("demo", "demo"),
        ("globex", "globex"),
    ]


def test_demo_setup_runs_again_without_a_third_organization(tokens: dict[str, str]) -> None:
    call_command("demo_setup", "--no-admin", stdout=io.StringIO())

    assert Organization.objects.count() == 2
    assert Connection.objects.filter(slug="globex").count() == 1


def test_each_token_provisions_into_its_organization(tokens: dict[str, str]) -> None:
    assert post_user(tokens["demo"], "alice@example.com").status_code == 201
    assert post_user(tokens["globex"], "carol@globex.example").status_code == 201

    assert organizations_of("alice@example.com") == {"demo"}
    assert organizations_of("carol@globex.example") == {"globex"}


def test_a_sign_in_makes_the_person_a_member(tokens: dict[str, str]) -> None:
    globex = get_connection("globex")
    assert globex is not None

    _identity, created = provision_from_saml(
        globex,
        name_id="dan@globex.example",
        name_id_format=NameIdFormat.EMAIL,
        document={"userName": "dan@globex.example"},
    )

    assert created
    assert organizations_of("dan@globex.example") == {"globex"}


def test_another_organizations_member_is_never_linked(tokens: dict[str, str]) -> None:
    """Globex verified globex.example, but bob@globex.example is a member of Demo customer."""
    globex_links_by_email()
    bob = local_user("bob@globex.example", "demo")

    response = post_user(tokens["globex"], "bob@globex.example")

    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert_untouched(bob)
    assert organizations_of("bob@globex.example") == {"demo"}


def test_a_member_of_several_organizations_is_never_linked(tokens: dict[str, str]) -> None:
    globex_links_by_email()
    eve = local_user("eve@globex.example", "demo", "globex")

    assert post_user(tokens["globex"], "eve@globex.example").status_code == 409
    assert_untouched(eve)


@pytest.mark.parametrize("organizations", [(), ("globex",)])
def test_an_account_of_no_or_the_same_organization_is_linked(
    tokens: dict[str, str], organizations: tuple[str, ...]
) -> None:
    globex_links_by_email()
    fay = local_user("fay@globex.example", *organizations)

    response = post_user(tokens["globex"], "fay@globex.example")

    assert response.status_code == 201, response.content
    assert ExternalIdentity.objects.get(connection__slug="globex").user == fay
    assert organizations_of("fay@globex.example") == {"globex"}


def test_staff_are_never_linked(tokens: dict[str, str]) -> None:
    globex_links_by_email()
    ops = local_user("ops@globex.example", "globex", is_staff=True)

    assert post_user(tokens["globex"], "ops@globex.example").status_code == 409
    assert_untouched(ops)


def test_the_home_page_shows_each_organizations_members(tokens: dict[str, str]) -> None:
    post_user(tokens["demo"], "alice@example.com")
    post_user(tokens["globex"], "carol@globex.example")

    page = Client().get("/", HTTP_HOST="127.0.0.1").content.decode()

    demo_part, globex_part = page.split("<h2>Globex")
    assert "alice@example.com" in demo_part.split("<h2>Demo customer")[1]
    assert "carol@globex.example" in globex_part and "alice@example.com" not in globex_part


def test_a_scim_request_is_logged_once(caplog: Any) -> None:
    """By django_provisioning.scim; not again by Django's request logger ("Unauthorized")."""
    with caplog.at_level(logging.INFO):
        response = Client(HTTP_AUTHORIZATION="Bearer nope").get(
            "/scim/v2/Users", HTTP_HOST="127.0.0.1"
        )

    assert response.status_code == 401
    assert [(r.name, r.getMessage()[:39]) for r in caplog.records] == [
        ("django_provisioning.scim", "SCIM GET Users connection=- status=401 ")
    ]


def test_runserver_does_not_log_a_scim_request_again() -> None:
    server = logging.getLogger("django.server")
    record = server.makeRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        ("GET /scim/v2/Users HTTP/1.1", "200", "130"),
        None,
    )
    other = server.makeRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        ("GET /dashboard/ HTTP/1.1", "200", "130"),
        None,
    )

    assert not server.filter(record)
    assert server.filter(other)


def test_a_denied_admin_page_logs_one_line_without_traceback(caplog: Any) -> None:
    admin = User.objects.create_superuser("root", "root@example.org", "pw")
    client = Client()
    client.force_login(admin)

    with caplog.at_level(logging.WARNING):
        response = client.get("/admin/django_provisioning/scimtoken/add/", HTTP_HOST="127.0.0.1")

    assert response.status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == (
        "Forbidden (Permission denied): /admin/django_provisioning/scimtoken/add/"
    )
    assert record.exc_info is None and "Traceback" not in caplog.text
