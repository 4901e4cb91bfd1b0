"""The two-step ACS and JIT provisioning, driven by the test identity provider."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from django_provisioning import signals
from django_provisioning.adapter import DefaultAdapter, ProvisioningDenied
from django_provisioning.models import (
    Connection,
    ExternalIdentity,
    SamlAssertionReplay,
    SamlPendingLogin,
)
from django_provisioning.provisioning import deactivate_user, replace_user
from django_provisioning.saml import state
from tests.factories import scim_user

from .conftest import SP_ENTITY_ID, Browser
from .idp import NS, TestIdP, b64, tree

ENTRA = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
User = get_user_model()


def local_user(email: str) -> Any:
    """A local user the product created itself (not linked to any connection)."""
    user = User(**{User.USERNAME_FIELD: email, User.get_email_field_name(): email})
    user.set_unusable_password()
    user.save()
    return user


def test_sp_initiated_sign_in_creates_the_user_and_logs_in(
    browser: Browser, saml_connection: Connection
) -> None:
    request, relay_state = browser.start("/home/?tab=1")
    step1 = browser.post(browser.response_for(request), relay_state)

    assert step1.status_code == 303
    assert step1["Location"].startswith("/sso/acme/acs/finish/?key=")
    assert "sessionid" not in step1.cookies  # step 1 never touches the session
    step2 = browser.finish(step1)

    assert step2.status_code == 302
    assert step2["Location"] == "/home/?tab=1"
    assert browser.who() == "home: alice@example.com"
    identity = ExternalIdentity.objects.get(connection=saml_connection)
    assert identity.name_id == "alice@example.com"
    assert identity.user.get_username() == "alice@example.com"
    if hasattr(identity.user, "first_name"):
        assert (identity.user.first_name, identity.user.last_name) == ("Alice", "Liddell")
    assert SamlAssertionReplay.objects.filter(connection=saml_connection).count() == 1
    assert not SamlPendingLogin.objects.exists()
    session = browser.client.session
    assert session["_auth_user_backend"] == "django_provisioning.backends.ProvisioningBackend"
    assert session["_dp_saml_login"]["name_id"] == "alice@example.com"
    # Session keys say what they hold (what single logout sends back to the IdP).
    assert set(session["_dp_saml_login"]) == {
        "connection",
        "name_id",
        "name_id_format",
        "name_id_qualifier",
        "name_id_sp_qualifier",
        "session_index",
    }
    assert session["_dp_saml_login"]["connection"] == "acme"
    assert "_dp_saml_requests" not in session  # the request ids are not in the session
    assert browser.outstanding() == {}  # the request id was single-use
    assert step2.cookies[state.REQUESTS_COOKIE]["max-age"] == 0  # the emptied cookie deleted


def test_without_next_goes_to_login_redirect_url(browser: Browser, saml_connection: Any) -> None:
    response = browser.sign_in()
    assert response.status_code == 302
    assert response["Location"] == "/home/"


def test_saml_login_redirect_url_setting(
    browser: Browser, saml_connection: Any, settings: Any
) -> None:
    settings.DJANGO_PROVISIONING = {"SAML_LOGIN_REDIRECT_URL": "/welcome/"}
    assert browser.sign_in()["Location"] == "/welcome/"


def test_step_one_needs_no_session_cookie_and_step_two_needs_it(
    browser: Browser, idp: TestIdP, saml_connection: Any
) -> None:
    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)  # fresh client: no cookie
    assert step1.status_code == 303
    other = Client()  # another browser that learnt the one-time URL
    response = other.get(step1["Location"])

    assert response.status_code == 403
    assert "started in another browser" in response.content.decode()
    assert not ExternalIdentity.objects.exists()
    assert not User.objects.exists()
    assert "_auth_user_id" not in other.session
    # The one-time key is spent: the right browser cannot reuse it either.
    assert browser.client.get(step1["Location"]).status_code == 400


def test_step_two_key_is_single_use(browser: Browser, saml_connection: Any) -> None:
    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)
    assert browser.finish(step1).status_code == 302
    again = browser.client.get(step1["Location"])
    assert again.status_code == 400
    assert "expired or was already used" in again.content.decode()


def test_unknown_connection_is_a_readable_404(client: Client, db: Any) -> None:
    response = client.get("/sso/nobody/login/")
    assert response.status_code == 404
    assert "does not match any organisation" in response.content.decode()


def test_inactive_connection_refused(browser: Browser, saml_connection: Connection) -> None:
    saml_connection.is_active = False
    saml_connection.save()
    assert browser.client.get("/sso/acme/login/").status_code == 404


def test_existing_identity_found_by_name_id_and_refreshed(
    browser: Browser, saml_connection: Connection
) -> None:
    identity = scim_user(saml_connection, "alice@example.com", name={"givenName": "Old"})
    ExternalIdentity.objects.filter(pk=identity.pk).update(name_id="alice@example.com")

    browser.sign_in()

    assert User.objects.count() == 1
    identity.refresh_from_db()
    assert identity.document["name"]["givenName"] == "Alice"
    assert browser.who() == "home: alice@example.com"


def test_jit_update_off_keeps_attributes(browser: Browser, saml_connection: Connection) -> None:
    saml_connection.jit_update = False
    saml_connection.save()
    identity = scim_user(saml_connection, "alice@example.com", name={"givenName": "Kept"})

    browser.sign_in()

    identity.refresh_from_db()
    assert identity.document["name"]["givenName"] == "Kept"
    assert identity.name_id == "alice@example.com"  # linked by userName, NameID recorded


def test_jit_then_scim_is_one_account(browser: Browser, saml_connection: Connection) -> None:
    browser.sign_in()
    identity = ExternalIdentity.objects.get(connection=saml_connection)
    # The IdP then pushes the same person over SCIM (PUT with an externalId).
    doc = dict(identity.document, externalId="okta-00u1", displayName="Alice L.")
    replace_user(identity, doc)

    assert User.objects.count() == 1
    assert ExternalIdentity.objects.count() == 1
    second = Browser(browser.idp)
    second.sign_in()
    assert second.who() == "home: alice@example.com"
    assert User.objects.count() == 1
    identity.refresh_from_db()
    assert identity.external_id == "okta-00u1"


def test_scim_deactivated_user_is_refused(browser: Browser, saml_connection: Connection) -> None:
    identity = scim_user(saml_connection, "alice@example.com")
    deactivate_user(identity)

    response = browser.sign_in()

    assert response.status_code == 403
    assert "deactivated" in response.content.decode()
    assert browser.who() == "home: anonymous"
    assert "_auth_user_id" not in browser.client.session


def test_unknown_user_with_jit_creation_off_is_refused(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    saml_connection.jit_create = False
    saml_connection.save()

    with caplog.at_level("WARNING", logger="django_provisioning.saml"):
        response = browser.sign_in()

    assert response.status_code == 403
    assert "There is no account for you here" in response.content.decode()
    assert "reference" in response.content.decode()
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert "_auth_user_id" not in browser.client.session
    assert any("code denied" in r.getMessage() for r in caplog.records)


def test_links_existing_local_user_by_verified_domain(
    browser: Browser, saml_connection: Connection
) -> None:
    saml_connection.link_by_email = True
    saml_connection.save()
    local = local_user("alice@example.com")

    browser.sign_in()

    identity = ExternalIdentity.objects.get(connection=saml_connection)
    assert identity.user_id == local.pk
    assert User.objects.count() == 1


def test_existing_local_user_not_linked_without_policy(
    browser: Browser, saml_connection: Connection
) -> None:
    local_user("alice@example.com")

    response = browser.sign_in()

    assert response.status_code == 403
    assert "cannot be linked" in response.content.decode()
    assert not ExternalIdentity.objects.exists()
    assert User.objects.count() == 1


def test_transient_name_id_matches_by_attribute(
    browser: Browser, saml_connection: Connection
) -> None:
    saml_connection.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    saml_connection.save()

    browser.sign_in(name_id="_a1b2c3-transient", name_id_format="transient")
    second = Browser(browser.idp)
    second.sign_in(name_id="_other-transient", name_id_format="transient")

    identity = ExternalIdentity.objects.get()
    assert identity.name_id == ""  # a transient NameID is never stored or matched
    assert identity.user_name == "alice@example.com"
    assert second.who() == "home: alice@example.com"


@pytest.mark.parametrize(
    "attributes",
    [
        {  # Microsoft Entra ID
            f"{ENTRA}emailaddress": ["bob@example.com"],
            f"{ENTRA}givenname": ["Bob"],
            f"{ENTRA}surname": ["Builder"],
            "http://schemas.microsoft.com/identity/claims/displayname": ["Bob B."],
        },
        {  # OneLogin
            "User.email": ["bob@example.com"],
            "User.FirstName": ["Bob"],
            "User.LastName": ["Builder"],
        },
        {  # eduPerson / inetOrgPerson
            "urn:oid:0.9.2342.19200300.100.1.3": ["bob@example.com"],
            "urn:oid:2.5.4.42": ["Bob"],
            "urn:oid:2.5.4.4": ["Builder"],
        },
        {  # JumpCloud's default attribute names (all lower case)
            "email": ["bob@example.com"],
            "firstname": ["Bob"],
            "lastname": ["Builder"],
        },
    ],
    ids=["entra", "onelogin", "oid", "jumpcloud"],
)
def test_default_attribute_names_of_common_idps(
    browser: Browser, saml_connection: Connection, attributes: dict[str, list[str]]
) -> None:
    browser.sign_in(name_id="00u-opaque-id", name_id_format="persistent", attributes=attributes)

    identity = ExternalIdentity.objects.get()
    assert identity.name_id == "00u-opaque-id"
    assert identity.user_name == "bob@example.com"
    assert identity.document["name"] == {"givenName": "Bob", "familyName": "Builder"}


def test_attribute_mapping_override(browser: Browser, saml_connection: Connection) -> None:
    saml_connection.attribute_mapping = {"name.givenName": ["custom_fn"]}
    saml_connection.save()
    browser.sign_in(attributes={"custom_fn": ["Custom"], "firstName": ["Ignored"]})
    assert ExternalIdentity.objects.get().document["name"]["givenName"] == "Custom"


def test_groups_synced_through_group_mapping(browser: Browser, saml_connection: Connection) -> None:
    # "Engineering" gets a group of the connection's own; "Admins" maps onto an existing one.
    Group.objects.create(name="staff-admins")
    saml_connection.group_mapping = {"Engineering": None, "Admins": "staff-admins"}
    saml_connection.save()

    browser.sign_in(
        attributes={"email": ["alice@example.com"], "groups": ["Engineering", "Unmapped"]}
    )

    user = User.objects.get()
    assert sorted(user.groups.values_list("name", flat=True)) == ["acme: Engineering"]
    assert not Group.objects.filter(name__contains="Unmapped").exists()
    # Next sign-in without the group: membership removed.
    Browser(browser.idp).sign_in(attributes={"email": ["alice@example.com"], "groups": ["Admins"]})
    assert sorted(user.groups.values_list("name", flat=True)) == ["staff-admins"]


def test_groups_untouched_without_group_mapping(
    browser: Browser, saml_connection: Connection
) -> None:
    browser.sign_in()
    user = User.objects.get()
    manual = Group.objects.create(name="manual")
    user.groups.add(manual)
    Browser(browser.idp).sign_in(attributes={"email": ["alice@example.com"], "groups": ["X"]})
    assert list(user.groups.values_list("name", flat=True)) == ["manual"]


def test_custom_groups_attribute(browser: Browser, saml_connection: Connection) -> None:
    saml_connection.groups_attribute = "teams"
    saml_connection.group_mapping = {"red": None}
    saml_connection.save()
    browser.sign_in(attributes={"email": ["alice@example.com"], "teams": ["red"]})
    assert list(User.objects.get().groups.values_list("name", flat=True)) == ["acme: red"]


class VetoAdapter(DefaultAdapter):
    def pre_saml_login(self, request: Any, connection: Any, user: Any, saml_data: Any) -> None:
        raise ProvisioningDenied("Sign-in is closed for maintenance.")


class AdjustAdapter(DefaultAdapter):
    def pre_jit(self, request: Any, connection: Any, document: Any, saml_data: Any) -> Any:
        assert saml_data["connection"] == connection and connection.pk is not None
        assert request.user.is_anonymous  # the request, before anyone is signed in
        document["displayName"] = f"{saml_data['name_id']} (SSO)"
        return document


def test_pre_saml_login_hook_vetoes_and_nothing_is_written(
    browser: Browser, saml_connection: Connection, settings: Any
) -> None:
    settings.DJANGO_PROVISIONING = {"ADAPTER": "tests.saml.test_acs.VetoAdapter"}

    response = browser.sign_in()

    assert response.status_code == 403
    assert "closed for maintenance" in response.content.decode()
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert "_auth_user_id" not in browser.client.session


def test_pre_jit_hook_adjusts_the_document(
    browser: Browser, saml_connection: Connection, settings: Any
) -> None:
    settings.DJANGO_PROVISIONING = {"ADAPTER": "tests.saml.test_acs.AdjustAdapter"}
    browser.sign_in()
    assert ExternalIdentity.objects.get().document["displayName"] == "alice@example.com (SSO)"


def test_signals_sent_after_commit(
    browser: Browser, saml_connection: Connection, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[tuple[str, Any]] = []

    def on_login(sender: Any, **kwargs: Any) -> None:
        assert kwargs["user"].is_authenticated and kwargs["request"].user == kwargs["user"]
        seen.append(("login", kwargs["created"]))

    def on_created(sender: Any, **kwargs: Any) -> None:
        seen.append(("created", sender))

    signals.saml_user_logged_in.connect(on_login)
    signals.user_created.connect(on_created)
    try:
        # The test runs inside a transaction that never commits: nothing may be sent yet.
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = browser.sign_in()
        assert response.status_code == 302
        assert browser.who() == "home: alice@example.com"
        assert seen == []
        assert len(callbacks) >= 2
        for callback in callbacks:  # "commit"
            callback()
    finally:
        signals.saml_user_logged_in.disconnect(on_login)
        signals.user_created.disconnect(on_created)
    assert seen == [("created", "saml"), ("login", True)]


def test_failing_login_receiver_does_not_undo_the_sign_in(
    browser: Browser, saml_connection: Connection, django_capture_on_commit_callbacks: Any
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.saml_user_logged_in.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = browser.sign_in()
    finally:
        signals.saml_user_logged_in.disconnect(broken)
    assert response.status_code == 302
    assert browser.who() == "home: alice@example.com"


def test_idp_initiated_allowed_when_connection_allows_it(
    browser: Browser, saml_connection: Connection
) -> None:
    saml_connection.allow_idp_initiated = True
    saml_connection.save()

    step1 = browser.post(browser.response_for(None), relay_state="/home/?from=idp")
    response = browser.finish(step1)

    assert response.status_code == 302
    assert response["Location"] == "/home/?from=idp"
    assert browser.who() == "home: alice@example.com"


def test_opaque_relay_state_is_ignored(browser: Browser, saml_connection: Connection) -> None:
    saml_connection.allow_idp_initiated = True
    saml_connection.save()
    response = browser.finish(browser.post(browser.response_for(None), relay_state="abc123"))
    assert response["Location"] == "/home/"


def test_rollover_second_certificate_accepted(saml_connection: Connection) -> None:
    from .conftest import sp_metadata
    from .idp import pem

    saml_connection.idp_x509_certs = [pem("idp.crt"), pem("idp2.crt")]
    saml_connection.save()
    browser = Browser(TestIdP(sp_metadata(saml_connection), key="idp2"))

    assert browser.sign_in().status_code == 302
    assert browser.who() == "home: alice@example.com"


def test_settings_declared_connection(settings: Any, db: Any) -> None:
    from .conftest import sp_metadata
    from .idp import IDP_ENTITY_ID, IDP_SSO_URL, pem

    settings.DJANGO_PROVISIONING = {
        "CONNECTIONS": {
            "acme": {
                "name": "Acme (settings)",
                "idp_entity_id": IDP_ENTITY_ID,
                "idp_sso_url": IDP_SSO_URL,
                "idp_x509_certs": [pem("idp.crt")],
            }
        }
    }
    browser = Browser(TestIdP(sp_metadata(Connection(slug="acme"))))
    assert browser.sign_in().status_code == 302
    assert browser.who() == "home: alice@example.com"
    assert Connection.objects.get(slug="acme").from_settings


def test_signed_response_and_assertion(browser: Browser, saml_connection: Connection) -> None:
    saml_connection.want_messages_signed = True
    saml_connection.save()
    request, relay_state = browser.start()
    unsigned_message = browser.response_for(request)
    refused = browser.post(unsigned_message, relay_state)
    assert refused.status_code == 400
    assert "not signed as this site requires" in refused.content.decode()

    request, relay_state = browser.start()
    both = browser.response_for(request, sign_response=True)
    assert browser.finish(browser.post(both, relay_state)).status_code == 302


def test_behind_a_proxy(idp: TestIdP, saml_connection: Connection, settings: Any) -> None:
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["sp.example.com"]
    headers = {"HTTP_X_FORWARDED_HOST": "sp.example.com", "HTTP_X_FORWARDED_PROTO": "https"}
    client = Client(**headers)
    metadata = client.get("/sso/acme/metadata/").content.decode()
    assert 'entityID="https://sp.example.com/sso/acme/metadata/"' in metadata
    proxied_idp = TestIdP(metadata)
    start = client.get("/sso/acme/login/", {"next": "/home/"})
    request, relay_state = proxied_idp.parse_login_redirect(start["Location"])
    assert request.assertion_consumer_service_url == "https://sp.example.com/sso/acme/acs/"
    xml = proxied_idp.response_xml(
        sp_entity_id="https://sp.example.com/sso/acme/metadata/",
        acs_url="https://sp.example.com/sso/acme/acs/",
        in_response_to=request.id,
    )
    step1 = Client(**headers).post(
        "/sso/acme/acs/", {"SAMLResponse": b64(xml), "RelayState": relay_state}
    )
    assert step1.status_code == 303
    assert client.get(step1["Location"])["Location"] == "/home/"
    assert client.get("/home/").content == b"home: alice@example.com"


def test_acs_refuses_get(client: Client, saml_connection: Any) -> None:
    assert client.get("/sso/acme/acs/").status_code == 405


def test_audience_is_checked_against_the_connection(
    browser: Browser, saml_connection: Connection
) -> None:
    # Two connections trust the same IdP: an assertion for one is refused by the other even
    # when its Destination and Recipient name the other's ACS.
    from tests.factories import ConnectionFactory

    from .idp import IDP_ENTITY_ID, IDP_SSO_URL, pem

    ConnectionFactory(
        slug="globex",
        idp_entity_id=IDP_ENTITY_ID,
        idp_sso_url=IDP_SSO_URL,
        idp_x509_certs=[pem("idp.crt")],
        allow_idp_initiated=True,
    )
    globex_acs = "http://testserver/sso/globex/acs/"
    for audience, status in [(SP_ENTITY_ID, 400), ("http://testserver/sso/globex/metadata/", 303)]:
        xml = browser.idp.response_xml(
            sp_entity_id=audience, acs_url=globex_acs, in_response_to=None
        )
        audiences = tree(xml).findall(".//saml:AudienceRestriction/saml:Audience", NS)
        assert [a.text for a in audiences] == [audience]
        response = Client().post("/sso/globex/acs/", {"SAMLResponse": b64(xml)})
        assert response.status_code == status, response.content
        if status == 400:
            assert "meant for another site" in response.content.decode()


@pytest.mark.parametrize(
    "signed",
    ["response", "assertion"],
    ids=["signed-response-around-it", "signed-assertion-inside"],
)
def test_encrypted_assertion(browser: Browser, saml_connection: Connection, signed: str) -> None:
    from .idp import pem

    saml_connection.want_assertions_encrypted = True
    saml_connection.sp_certificate = pem("sp.crt")
    saml_connection.sp_private_key = pem("sp.key")
    saml_connection.save()
    request, relay_state = browser.start()
    plain = browser.response_for(request)
    refused = browser.post(plain, relay_state)
    assert refused.status_code == 400

    # Either the IdP signs the Response around the encrypted assertion (pysaml2's way; the
    # connection then requires a signed Response), or it signs the assertion and encrypts it
    # (Okta's and Entra's way; the connection's default, a signed assertion).
    around = signed == "response"
    saml_connection.want_assertions_signed = not around
    saml_connection.want_messages_signed = around
    saml_connection.save()
    request, relay_state = browser.start()
    encrypted = browser.response_for(
        request,
        encrypt_assertion=True,
        encrypt_cert_assertion=pem("sp.crt"),
        sign_assertion=not around,
        sign_response=around,
    )
    root = tree(encrypted)
    assert root.find("saml:EncryptedAssertion", NS) is not None
    assert root.find("saml:Assertion", NS) is None
    assert (root.find("ds:Signature", NS) is not None) is around
    assert browser.finish(browser.post(encrypted, relay_state)).status_code == 302
    assert browser.who() == "home: alice@example.com"


def test_identity_provider_refusal_is_said_as_such(
    browser: Browser, saml_connection: Connection
) -> None:
    # A Response with a non-success status and no assertion: the IdP's "no", not a wrapping.
    request, relay_state = browser.start()
    xml = browser.response_for(request, status="urn:oasis:names:tc:SAML:2.0:status:Responder")

    response = browser.post(xml, relay_state)

    assert response.status_code == 403
    assert "Your identity provider did not sign you in." in response.content.decode()
    assert not SamlPendingLogin.objects.exists()
