"""The development IdP, the sign-in page and the dashboard, under the example's own settings.

Run by ``tests/test_example_project.py`` like ``demo/tests.py``. A sign-in goes the whole way
through the package's SAML views: the sign-in page, the SP's AuthnRequest, the IdP's form, its
signed Response, the ACS, the dashboard; then single logout through the IdP.
"""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from django_provisioning.models import ScimToken

from .protocol import Refused, read_request

pytestmark = pytest.mark.django_db
HOST = "127.0.0.1:8000"  # settings.DEMO_ORIGIN's host: where the connections expect the IdP


@pytest.fixture(autouse=True)
def _demo(settings: Any) -> None:
    settings.DEBUG = True  # pytest-django turns it off; the IdP answers only with it on
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("demo_setup", "--no-admin", stdout=io.StringIO(), stderr=io.StringIO())


def field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} in the page"
    return match.group(1)


def local(url: str) -> str:
    parsed = urlparse(url)
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def sign_in(client: Client, email: str, groups: list[str], *, person: str | None = None) -> Any:
    """The whole SP-initiated sign-in, as a browser follows it; returns the last response."""
    response = client.post("/signin/", {"email": email}, HTTP_HOST=HOST)
    assert response.status_code == 302, response.content
    response = client.get(response["Location"], HTTP_HOST=HOST)  # the SP's login view
    assert response.status_code == 302
    idp = urlparse(response["Location"])
    assert idp.netloc == HOST and idp.path.startswith("/devidp/")
    page = client.get(local(response["Location"]), HTTP_HOST=HOST)
    assert page.status_code == 200
    html = page.content.decode()
    posted = client.post(
        idp.path,
        {
            "SAMLRequest": field(html, "SAMLRequest"),
            "RelayState": field(html, "RelayState"),
            "email": person or email,
            "groups": groups,
        },
        HTTP_HOST=HOST,
    )
    if posted.status_code != 200:
        return posted  # the IdP refused
    html = posted.content.decode()
    acs = re.search(r'action="([^"]+)"', html)
    assert acs
    data = {"SAMLResponse": field(html, "SAMLResponse")}
    if 'name="RelayState"' in html:
        data["RelayState"] = field(html, "RelayState")
    response = client.post(local(acs.group(1)), data, HTTP_HOST=HOST)
    while response.status_code in (302, 303):
        response = client.get(local(response["Location"]), HTTP_HOST=HOST)
    return response


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.mark.parametrize(
    ("email", "groups", "organization", "shown_groups"),
    [
        ("alice@example.com", ["Engineering"], "Demo customer", "demo: Engineering"),
        ("carol@globex.example", ["Admins", "Sales"], "Globex", "globex: Admins, globex: Sales"),
    ],
)
def test_sign_in_by_work_email_lands_on_the_dashboard(
    email: str, groups: list[str], organization: str, shown_groups: str
) -> None:
    page = sign_in(Client(), email, groups)

    assert page.status_code == 200
    body = text(page)
    assert f'<td id="username">{email}</td>' in body
    assert f'<td id="organization">{organization}</td>' in body
    assert f'<td id="groups">{shown_groups}</td>' in body


def test_an_unknown_domain_is_told_so() -> None:
    response = Client().post("/signin/", {"email": "eve@elsewhere.example"}, HTTP_HOST=HOST)

    assert response.status_code == 400
    assert "No organization has verified that e-mail&#x27;s domain" in response.content.decode()


def test_the_dashboard_needs_a_sign_in() -> None:
    response = Client().get("/dashboard/", HTTP_HOST=HOST)

    assert response.status_code == 302
    assert response["Location"] == "/signin/?next=/dashboard/"


def test_single_logout_goes_through_the_idp_and_signs_out() -> None:
    client = Client()
    sign_in(client, "bob@example.com", [])
    dashboard = client.get("/dashboard/", HTTP_HOST=HOST)
    assert dashboard.status_code == 200

    response = client.post("/sso/demo/logout/", HTTP_HOST=HOST)
    assert response.status_code == 302
    assert urlparse(response["Location"]).path == "/devidp/demo/slo/"
    answer = client.get(local(response["Location"]), HTTP_HOST=HOST)  # the IdP answers
    assert answer.status_code == 302
    back = urlparse(answer["Location"])
    assert back.path == "/sso/demo/slo/" and "Signature=" in back.query
    done = client.get(local(answer["Location"]), HTTP_HOST=HOST)  # the SP checks it

    assert done.status_code == 302 and done["Location"] == "/"
    assert client.get("/dashboard/", HTTP_HOST=HOST).status_code == 302


def test_the_sign_out_button_uses_single_logout_after_a_saml_sign_in() -> None:
    client = Client()
    sign_in(client, "bob@example.com", [])

    html = client.get("/dashboard/", HTTP_HOST=HOST).content.decode()

    assert 'action="/sso/demo/logout/"' in html
    assert "Sign out (single logout at the IdP)" in html


def test_the_sign_out_button_is_a_local_logout_for_a_local_sign_in() -> None:
    user = get_user_model().objects.create_user("local@example.com", password="pw-local-123")
    client = Client()
    client.force_login(user)

    html = client.get("/dashboard/", HTTP_HOST=HOST).content.decode()

    assert 'action="/signout/"' in html
    assert "single logout" not in html
    response = client.post("/signout/", HTTP_HOST=HOST)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/dashboard/", HTTP_HOST=HOST).status_code == 302


def test_the_sign_out_button_is_local_without_an_idp_slo_url(settings: Any) -> None:
    demo = settings.DJANGO_PROVISIONING["CONNECTIONS"]["demo"]
    settings.DJANGO_PROVISIONING = {
        **settings.DJANGO_PROVISIONING,
        "CONNECTIONS": {"demo": {**demo, "idp_slo_url": ""}},
    }
    client = Client()
    sign_in(client, "bob@example.com", [])

    html = client.get("/dashboard/", HTTP_HOST=HOST).content.decode()

    assert 'action="/signout/"' in html
    assert client.post("/signout/", HTTP_HOST=HOST)["Location"] == "/"
    assert client.get("/dashboard/", HTTP_HOST=HOST).status_code == 302


def test_the_idp_signs_only_its_people() -> None:
    """Carol is Globex's: the Demo customer's IdP will not sign her in."""
    response = sign_in(Client(), "alice@example.com", [], person="carol@globex.example")

    assert response.status_code == 400
    assert "Pick one of the people listed." in response.content.decode()
    assert not get_user_model().objects.filter(username="carol@globex.example").exists()


@pytest.mark.parametrize(
    "path", ["/devidp/demo/sso/", "/devidp/demo/slo/", "/devidp/demo/metadata/"]
)
def test_the_idp_is_refused_without_debug(settings: Any, path: str) -> None:
    settings.DEBUG = False

    assert Client().get(path, HTTP_HOST=HOST).status_code == 404


def test_the_idp_refuses_to_post_to_another_site() -> None:
    client = Client()
    login = client.get("/sso/demo/login/", HTTP_HOST=HOST)
    request = local(login["Location"])

    response = Client().get(request, HTTP_HOST="localhost:8000")  # ACS on 127.0.0.1:8000

    assert response.status_code == 400
    assert "is not ours" in response.content.decode()


def test_the_idp_metadata_imports_into_a_connection() -> None:
    metadata = Client().get("/devidp/globex/metadata/", HTTP_HOST=HOST)

    assert metadata.status_code == 200
    assert b'entityID="http://127.0.0.1:8000/devidp/globex/metadata/"' in metadata.content


def test_garbage_is_refused_not_a_500() -> None:
    assert Client().get("/devidp/demo/sso/?SAMLRequest=%%%", HTTP_HOST=HOST).status_code == 400
    with pytest.raises(Refused):
        read_request("bm90IGRlZmxhdGVk", "AuthnRequest")


def test_each_demo_setup_revokes_the_tokens_it_issued_before() -> None:
    usable = ScimToken.objects.filter(name="demo_setup", revoked_at=None)
    assert sorted(usable.values_list("connection__slug", flat=True)) == ["demo", "globex"]
    first = set(usable.values_list("pk", flat=True))

    call_command("demo_setup", "--no-admin", stdout=io.StringIO(), stderr=io.StringIO())

    assert not first & set(usable.values_list("pk", flat=True))
    assert usable.count() == 2
    assert ScimToken.objects.filter(pk__in=first, revoked_at__isnull=False).count() == 2
