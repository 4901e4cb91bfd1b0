"""Domains proven by a DNS TXT record: the challenge, the lookup, one connection per domain,
and what a DNS-verified domain allows (e-mail linking, home-realm discovery)."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from django_provisioning.connections import get_connection
from django_provisioning.domains import (
    DomainChallenge,
    DomainLookupError,
    connection_for_email,
    dns_txt_records,
    domain_challenge,
    verify_domain,
)
from django_provisioning.exceptions import DomainTaken, ProvisioningDenied
from django_provisioning.jit import provision_from_saml
from django_provisioning.models import (
    AuditEvent,
    Connection,
    DomainClaim,
    NameIdFormat,
    VerifiedDomain,
)
from tests.concurrency import race
from tests.tools import require_postgresql

from .factories import ConnectionFactory, UserFactory

pytestmark = pytest.mark.django_db

#: What the fake resolver answers: DNS name -> TXT strings, or an exception to raise.
RECORDS: dict[str, Any] = {}
LOOKUPS: list[str] = []


def fake_txt(name: str) -> list[str]:
    """The ``DOMAIN_TXT_RESOLVER`` of these tests."""
    LOOKUPS.append(name)
    answer = RECORDS.get(name, [])
    if isinstance(answer, Exception):
        raise answer
    return list(answer)


@pytest.fixture(autouse=True)
def _fake_dns(settings: Any) -> Any:
    RECORDS.clear()
    LOOKUPS.clear()
    settings.DJANGO_PROVISIONING = {
        **settings.DJANGO_PROVISIONING,
        "DOMAIN_TXT_RESOLVER": "tests.test_domain_dns.fake_txt",
    }
    yield
    RECORDS.clear()


def publish(challenge: DomainChallenge) -> None:
    RECORDS[challenge.record_name] = ["v=spf1 -all", challenge.record_value]


def rows() -> list[tuple[str, str, str]]:
    return list(VerifiedDomain.objects.values_list("domain", "connection__slug", "source"))


def test_the_challenge_names_the_record_and_is_kept(connection: Connection) -> None:
    challenge = domain_challenge(connection, "  Acme-Corp.Example. ")

    claim = DomainClaim.objects.get()
    assert challenge.domain == "acme-corp.example"
    assert challenge.record_name == "_django-provisioning.acme-corp.example"
    assert challenge.record_value == f"django-provisioning-verification={claim.token}"
    assert len(claim.token) >= 32 and claim.verified_at is None
    assert domain_challenge(connection, "acme-corp.example") == challenge  # same token again
    assert DomainClaim.objects.count() == 1


@pytest.mark.parametrize("bad", ["", "localhost", "exa mple.com", "-x.com", "a..com", "x" * 300])
def test_a_challenge_for_something_not_a_domain_is_refused(
    connection: Connection, bad: str
) -> None:
    with pytest.raises(ValueError, match="not a domain name"):
        domain_challenge(connection, bad)
    assert not DomainClaim.objects.exists()


def test_a_domain_whose_record_name_could_not_exist_is_refused(connection: Connection) -> None:
    """A DNS name has at most 253 characters: the record ``_django-provisioning.<domain>``
    of a longer domain can never be published, so no challenge is handed out for it."""
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 39]) + ".com"  # 235 characters
    with pytest.raises(ValueError, match="too long"):
        domain_challenge(connection, longest)
    assert not DomainClaim.objects.exists()
    fits = longest[len(longest) - 231 :].lstrip(".-")
    assert len(domain_challenge(connection, fits).record_name) <= 253


def test_a_published_record_verifies_the_domain(connection: Connection) -> None:
    challenge = domain_challenge(connection, "acme.test")
    publish(challenge)

    result = verify_domain(connection, "ACME.test")

    assert result.verified, result.message
    assert result.message == "The domain acme.test is verified for Acme."
    assert sorted(rows()) == [("acme.test", "acme", "dns"), ("example.com", "acme", "settings")]
    assert DomainClaim.objects.get().verified_at is not None
    event = AuditEvent.objects.get(action="domain_verified")
    assert (event.connection, event.target) == (connection, "acme.test")
    assert LOOKUPS == ["_django-provisioning.acme.test"]
    again = verify_domain(connection, "acme.test")
    assert again.message == "The domain acme.test is verified already."


def test_a_wrong_value_verifies_nothing(connection: Connection) -> None:
    challenge = domain_challenge(connection, "acme.test")
    RECORDS[challenge.record_name] = ["django-provisioning-verification=guessed"]

    result = verify_domain(connection, "acme.test")

    assert not result.verified
    assert "1 TXT record(s), none matching at _django-provisioning.acme.test" in result.message
    assert challenge.record_value in result.message  # what to add
    assert rows() == [("example.com", "acme", "settings")]
    assert not AuditEvent.objects.exists()


def test_no_record_says_what_to_add(connection: Connection) -> None:
    challenge = domain_challenge(connection, "acme.test")

    result = verify_domain(connection, "acme.test")

    assert not result.verified
    assert result.message.startswith("The DNS has no TXT record at _django-provisioning.acme.test")
    assert f"with the value {challenge.record_value}" in result.message


@pytest.mark.parametrize(
    "failure",
    [DomainLookupError("The DNS operation timed out."), RuntimeError("resolver broke")],
    ids=["timeout", "crash"],
)
def test_a_failed_lookup_is_a_message(connection: Connection, failure: Exception) -> None:
    challenge = domain_challenge(connection, "acme.test")
    RECORDS[challenge.record_name] = failure

    result = verify_domain(connection, "acme.test")

    assert not result.verified
    assert result.message == (
        f"The DNS lookup of _django-provisioning.acme.test failed ({failure}); try again in a "
        "few minutes."
    )
    assert rows() == [("example.com", "acme", "settings")]


def test_verify_needs_a_challenge_first(connection: Connection) -> None:
    result = verify_domain(connection, "acme.test")

    assert not result.verified
    assert "ask for its TXT record first" in result.message
    assert LOOKUPS == []


def test_an_explicit_resolver_wins_over_the_setting(connection: Connection) -> None:
    challenge = domain_challenge(connection, "acme.test")

    result = verify_domain(connection, "acme.test", resolver=lambda name: [challenge.record_value])

    assert result.verified
    assert LOOKUPS == []


@pytest.mark.parametrize("domain", ["globex.test", "settings.example"], ids=["row", "declared"])
def test_a_domain_verified_for_another_connection_stays_there(
    connection: Connection, other_connection: Connection, domain: str
) -> None:
    """globex.test: another connection's row; settings.example: a declared connection's."""
    challenge = domain_challenge(connection, domain)
    publish(challenge)  # even a matching record changes nothing
    before = rows()

    result = verify_domain(connection, domain)

    assert not result.verified
    assert result.message.startswith(
        f"The domain {domain} is already verified for another connection"
    )
    assert "(globex)" not in result.message and "settings-co" not in result.message
    assert rows() == before
    assert LOOKUPS == []


def test_a_dns_domain_cannot_be_taken_through_settings(
    connection: Connection, other_connection: Connection
) -> None:
    publish(domain_challenge(connection, "acme.test"))
    assert verify_domain(connection, "acme.test").verified
    other_connection.verified_domains = ["globex.test", "acme.test"]

    with pytest.raises(DomainTaken, match=r"acme\.test \(acme\)"):
        other_connection.save()
    assert ("acme.test", "acme", "dns") in rows()


def test_saving_the_connection_keeps_its_dns_domains(connection: Connection) -> None:
    publish(domain_challenge(connection, "acme.test"))
    verify_domain(connection, "acme.test")

    connection.verified_domains = ["example.org"]
    connection.save()

    assert sorted(rows()) == [("acme.test", "acme", "dns"), ("example.org", "acme", "settings")]


def test_home_realm_discovery_finds_dns_domains(connection: Connection) -> None:
    assert connection_for_email("jo@acme.test") is None
    publish(domain_challenge(connection, "acme.test"))
    verify_domain(connection, "acme.test")

    assert connection_for_email("Jo@ACME.test") == connection
    assert connection.owns_email_domain("jo@acme.test")
    connection.is_active = False
    connection.save()
    assert connection_for_email("jo@acme.test") is None


def test_a_declared_connection_may_prove_a_domain_by_dns(db: Any) -> None:
    declared = get_connection("settings-co")
    publish(domain_challenge(declared, "declared.test"))

    assert verify_domain(declared, "declared.test").verified
    found = connection_for_email("ann@declared.test")
    assert found is not None and found.slug == "settings-co"
    assert get_connection("settings-co").owns_email_domain("ann@declared.test")


def test_e_mail_linking_honours_dns_domains(connection: Connection) -> None:
    user_model = get_user_model()
    fields = {"email": "bob@acme.test"}
    if user_model.USERNAME_FIELD != "email":
        fields[user_model.USERNAME_FIELD] = "bob@acme.test"
    local = UserFactory(**fields)
    connection.link_by_email = True
    connection.save()

    def sign_in() -> Any:
        return provision_from_saml(
            connection,
            name_id="bob@acme.test",
            name_id_format=NameIdFormat.EMAIL,
            document={"userName": "bob@acme.test"},
        )

    publish(domain_challenge(connection, "acme.test"))
    with pytest.raises(ProvisioningDenied):  # published but not verified yet
        sign_in()
    verify_domain(connection, "acme.test")
    identity, created = sign_in()
    assert identity.user == local and not created


def test_an_unverified_claim_allows_nothing(connection: Connection) -> None:
    domain_challenge(connection, "acme.test")

    assert connection_for_email("jo@acme.test") is None
    assert not connection.owns_email_domain("jo@acme.test")


@pytest.mark.django_db(transaction=True)
def test_two_connections_racing_for_one_domain_get_one_row(db: Any) -> None:
    require_postgresql()
    for round_ in range(5):
        domain = f"race{round_}.test"
        one = ConnectionFactory(slug=f"one-{round_}")
        two = ConnectionFactory(slug=f"two-{round_}")
        for challenger in (one, two):
            RECORDS.setdefault(f"_django-provisioning.{domain}", []).append(
                domain_challenge(challenger, domain).record_value
            )

        results = race(
            lambda one=one, domain=domain: verify_domain(one, domain),
            lambda two=two, domain=domain: verify_domain(two, domain),
        )

        assert sorted(r.verified for r in results) == [False, True]
        loser = next(r for r in results if not r.verified)
        assert "already verified for another connection" in loser.message
        assert VerifiedDomain.objects.filter(domain=domain).count() == 1
        assert AuditEvent.objects.filter(target=domain).count() == 1


# --- the default resolver, with dnspython's answers replaced (no network) ---------------------


class _Rdata:
    def __init__(self, *strings: bytes) -> None:
        self.strings = strings


def test_the_default_resolver_joins_strings_and_reads_nxdomain_as_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dns.resolver

    def resolve(name: str, rdtype: str, lifetime: float) -> list[_Rdata]:
        assert (rdtype, lifetime) == ("TXT", 5.0)
        if name == "_django-provisioning.none.test":
            raise dns.resolver.NXDOMAIN
        if name == "_django-provisioning.empty.test":
            raise dns.resolver.NoAnswer
        if name == "_django-provisioning.slow.test":
            raise dns.resolver.LifetimeTimeout(timeout=5.0, errors=[])
        return [_Rdata(b"django-provisioning-", b"verification=x"), _Rdata(b"v=spf1")]

    monkeypatch.setattr(dns.resolver, "resolve", resolve)

    assert dns_txt_records("_django-provisioning.acme.test") == [
        "django-provisioning-verification=x",
        "v=spf1",
    ]
    assert dns_txt_records("_django-provisioning.none.test") == []
    assert dns_txt_records("_django-provisioning.empty.test") == []
    with pytest.raises(DomainLookupError):
        dns_txt_records("_django-provisioning.slow.test")


# --- the command and the admin ------------------------------------------------------------------


def test_the_command_prints_the_record_then_verifies(connection: Connection) -> None:
    out = StringIO()
    call_command("verify_domain", "acme", "Acme.test", stdout=out)
    challenge = domain_challenge(connection, "acme.test")
    assert out.getvalue() == (
        "Add this DNS record, then run this command again with --check:\n"
        f"  name:  {challenge.record_name}\n  type:  TXT\n  value: {challenge.record_value}\n"
    )

    with pytest.raises(CommandError, match="no TXT record") as exc:
        call_command("verify_domain", "acme", "acme.test", "--check", stdout=StringIO())
    assert exc.value.returncode == 1

    publish(challenge)
    out = StringIO()
    call_command("verify_domain", "acme", "acme.test", "--check", stdout=out)
    assert out.getvalue() == "The domain acme.test is verified for Acme.\n"
    assert ("acme.test", "acme", "dns") in rows()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["nope", "acme.test"], "No such connection: nope"), (["acme", "a b"], "not a domain")],
)
def test_the_command_refuses_bad_arguments(
    connection: Connection, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("verify_domain", *args)
    assert not DomainClaim.objects.exists()


def superuser_client() -> Client:
    model = get_user_model()
    fields = {model.USERNAME_FIELD: "root@example.org"}
    if model.USERNAME_FIELD != "email":
        fields["email"] = "root@example.org"
    client = Client()
    client.force_login(model.objects.create_superuser(password="pw", **fields))
    return client


CLAIMS = "/admin/django_provisioning/domainclaim/"


def test_the_admin_adds_a_claim_shows_its_record_and_verifies_it(connection: Connection) -> None:
    client = superuser_client()

    added = client.post(
        f"{CLAIMS}add/", {"connection": connection.pk, "domain": "ACME.test"}, follow=True
    )

    assert added.status_code == 200
    claim = DomainClaim.objects.get()
    assert claim.domain == "acme.test" and len(claim.token) >= 32
    listing = client.get(CLAIMS).content.decode()
    assert f"django-provisioning-verification={claim.token}" in listing
    assert "_django-provisioning.acme.test" in listing

    refused = client.post(
        CLAIMS, {"action": "verify", "_selected_action": [claim.pk]}, follow=True
    ).content.decode()
    assert "Acme: The DNS has no TXT record at _django-provisioning.acme.test" in refused
    assert rows() == [("example.com", "acme", "settings")]

    publish(domain_challenge(connection, "acme.test"))
    done = client.post(CLAIMS, {"action": "verify", "_selected_action": [claim.pk]}, follow=True)
    assert "Acme: The domain acme.test is verified for Acme." in done.content.decode()
    page = client.get(f"/admin/django_provisioning/connection/{connection.pk}/change/")
    assert re.search(r"Verified by DNS:</label>\s*<div[^>]*>acme.test<", page.content.decode())

    withdrawn = client.post(
        CLAIMS, {"action": "withdraw", "_selected_action": [claim.pk]}, follow=True
    )
    assert "1 domain(s) withdrawn." in withdrawn.content.decode()
    assert rows() == [("example.com", "acme", "settings")]
    assert AuditEvent.objects.filter(action="domain_withdrawn", target="acme.test").count() == 1
    assert DomainClaim.objects.get().verified_at is None


def test_the_admin_refuses_a_bad_domain(connection: Connection) -> None:
    page = superuser_client().post(f"{CLAIMS}add/", {"connection": connection.pk, "domain": "x"})
    assert page.status_code == 200
    assert "is not a domain name" in page.content.decode()
    assert not DomainClaim.objects.exists()
