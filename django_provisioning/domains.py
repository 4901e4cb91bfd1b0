"""Verified e-mail domains: which connection a work e-mail belongs to (home-realm discovery).

A domain is verified for one connection only. The database keeps it so: every connection's
``verified_domains`` are claimed in :class:`~django_provisioning.models.VerifiedDomain`
(unique, lowercased) when the connection is saved (:meth:`Connection.save
<django_provisioning.models.Connection.save>` raises
:class:`~django_provisioning.exceptions.DomainTaken` otherwise). Connections declared in
settings are checked against each other by system check ``django_provisioning.E030`` and
against the database by ``E031``; their claims are written when their row is created and again
after every ``migrate`` (:func:`sync_declared_domains`).

A connection can also prove a domain itself, by DNS: :func:`domain_challenge` gives the TXT
record to publish (and keeps a pending :class:`~django_provisioning.models.DomainClaim`),
:func:`verify_domain` looks it up with the ``DOMAIN_TXT_RESOLVER`` and, on a match, writes the
domain's ``VerifiedDomain`` row with ``source="dns"``. Such a row is kept when the connection's
``verified_domains`` change, and counts like the others for e-mail linking and home-realm
discovery.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .conf import provisioning_settings
from .connections import get_connection
from .declared import declared_connections, normalize_domains, settings_connections
from .exceptions import DomainTaken
from .models import AuditEvent, Connection, DomainClaim, DomainSource, VerifiedDomain

#: The DNS name that carries the proof is this label before the domain.
RECORD_LABEL = "_django-provisioning"
#: The TXT value is this prefix and the claim's token.
RECORD_PREFIX = "django-provisioning-verification="
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def email_domain(email: str) -> str:
    """The domain of *email*, lowercased; ``""`` when *email* has none."""
    _local, at, domain = (email or "").strip().rpartition("@")
    return domain.strip().lower().rstrip(".") if at and _local else ""


def connection_for_email(email: str) -> Connection | None:
    """The active connection that verified the domain of *email*, or None.

    What a sign-in page asks for "enter your work e-mail": a declared connection by its
    settings (no query), any other by its :class:`VerifiedDomain` row (one indexed lookup).
    """
    domain = email_domain(email)
    if not domain:
        return None
    for slug, options in declared_connections().items():
        if domain in normalize_domains(options["verified_domains"]):
            return get_connection(slug, active_only=True)
    claim = (
        VerifiedDomain.objects.filter(domain=domain)
        .filter(Q(connection__from_settings=False) | Q(source=DomainSource.DNS))
        .select_related("connection")
        .first()
    )
    if claim is None or not claim.connection.is_active:
        return None
    return claim.connection


@dataclass(frozen=True)
class DomainChallenge:
    """The TXT record that proves *domain* for a connection: publish ``record_value`` at
    ``record_name``."""

    domain: str
    record_name: str
    record_value: str


@dataclass(frozen=True)
class DomainVerificationResult:
    """What :func:`verify_domain` found: ``message`` says it in words for the domain's admin."""

    verified: bool
    message: str


class DomainLookupError(Exception):
    """The DNS could not answer (timeout, no name server): a resolver raises it to say so."""


def clean_domain(domain: str) -> str:
    """*domain* lowercased and without a final dot; ValueError when it is no domain name, or
    one too long for its TXT record's name (``_django-provisioning.`` + 231 characters at most)."""
    value = str(domain or "").strip().lower().rstrip(".")
    try:
        value = value.encode("idna").decode("ascii") if value else value
    except UnicodeError:
        raise ValueError(f"{domain!r} is not a domain name.") from None
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels):
        raise ValueError(f"{domain!r} is not a domain name (like example.com).")
    if len(value) + len(RECORD_LABEL) + 1 > 253:  # a DNS name has at most 253 characters
        raise ValueError(
            f"{domain!r} is too long: its TXT record name {RECORD_LABEL}.{value} could not exist."
        )
    return value


def domain_challenge(connection: Connection, domain: str) -> DomainChallenge:
    """The TXT record that proves *domain* for *connection*; keeps the pending claim.

    Asking again returns the same record (one :class:`DomainClaim` per connection and domain),
    so a record already published stays good. ValueError when *domain* is not a domain name.
    """
    name = clean_domain(domain)
    claim, _created = DomainClaim.objects.get_or_create(
        connection=connection, domain=name, defaults={"token": secrets.token_urlsafe(24)}
    )
    return DomainChallenge(
        domain=name,
        record_name=f"{RECORD_LABEL}.{name}",
        record_value=f"{RECORD_PREFIX}{claim.token}",
    )


def dns_txt_records(name: str) -> list[str]:
    """The TXT strings of *name* by the system's DNS resolver (dnspython); [] when none.

    The default ``DOMAIN_TXT_RESOLVER``. A record split into several strings is joined.
    Raises :class:`DomainLookupError` when the DNS does not answer.
    """
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=5.0)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        raise DomainLookupError(str(exc) or type(exc).__name__) from exc
    return [
        b"".join(rdata.strings).decode("utf-8", "replace")
        for rdata in answer  # type: ignore[attr-defined]
    ]


def _taken_elsewhere(domain: str) -> DomainVerificationResult:
    return DomainVerificationResult(
        False,
        f"The domain {domain} is already verified for another connection, and a domain is "
        "verified for one connection at a time. Nothing was changed; if this is wrong, ask "
        "the application's administrators.",
    )


def verify_domain(
    connection: Connection,
    domain: str,
    *,
    resolver: Callable[[str], list[str]] | None = None,
) -> DomainVerificationResult:
    """Look up the TXT record of *domain*'s challenge; on a match, verify it for *connection*.

    *resolver* (default: the ``DOMAIN_TXT_RESOLVER`` setting) maps a DNS name to its TXT
    strings. Nothing is written unless the record matches and no other connection has the
    domain; the unique ``VerifiedDomain.domain`` settles two connections verifying at once.
    """
    try:
        name = clean_domain(domain)
    except ValueError as exc:
        return DomainVerificationResult(False, str(exc))
    if VerifiedDomain.objects.filter(connection=connection, domain=name).exists():
        return DomainVerificationResult(True, f"The domain {name} is verified already.")
    claim = DomainClaim.objects.filter(connection=connection, domain=name).first()
    if claim is None:
        return DomainVerificationResult(
            False, f"No verification of {name} was started: ask for its TXT record first."
        )
    if claimed_elsewhere(connection.slug, [name]):
        return _taken_elsewhere(name)
    record_name = f"{RECORD_LABEL}.{name}"
    expected = f"{RECORD_PREFIX}{claim.token}"
    lookup = resolver or provisioning_settings.DOMAIN_TXT_RESOLVER
    try:
        values = [str(value).strip() for value in lookup(record_name)]
    except Exception as exc:  # any resolver failure is the admin's "try again", never a 500
        return DomainVerificationResult(
            False,
            f"The DNS lookup of {record_name} failed ({exc or type(exc).__name__}); try again "
            "in a few minutes.",
        )
    if expected not in values:
        found = "no TXT record" if not values else f"{len(values)} TXT record(s), none matching"
        return DomainVerificationResult(
            False,
            f"The DNS has {found} at {record_name}. Add a TXT record there with the value "
            f"{expected} (DNS changes can take a while to appear), then verify again.",
        )
    try:
        with transaction.atomic():
            VerifiedDomain.objects.create(
                domain=name, connection=connection, source=DomainSource.DNS
            )
            DomainClaim.objects.filter(pk=claim.pk).update(verified_at=timezone.now())
            AuditEvent.objects.create(
                connection=connection,
                source=AuditEvent.Source.SAML,
                action="domain_verified",
                target=name,
                detail={"domain": name, "by": "dns", "record": record_name},
            )
    except IntegrityError:  # another connection verified it meanwhile
        return _taken_elsewhere(name)
    return DomainVerificationResult(True, f"The domain {name} is verified for {connection}.")


def withdraw_domain(connection: Connection, domain: str) -> bool:
    """Un-verify *domain* of *connection* if DNS verified it (audited); True when it was.

    The pending claim stays, with its token: verifying again needs the record still there.
    A domain of ``verified_domains`` is withdrawn by editing that field instead.
    """
    with transaction.atomic():
        deleted, _rows = VerifiedDomain.objects.filter(
            connection=connection, domain=domain, source=DomainSource.DNS
        ).delete()
        if not deleted:
            return False
        DomainClaim.objects.filter(connection=connection, domain=domain).update(verified_at=None)
        AuditEvent.objects.create(
            connection=connection,
            source=AuditEvent.Source.SAML,
            action="domain_withdrawn",
            target=domain,
            detail={"domain": domain, "by": "dns"},
        )
    return True


def claimed_elsewhere(slug: str, domains: Any) -> dict[str, str]:
    """domain -> the other connection's slug, for each of *domains* another connection has.

    For a form's error before the save (which would refuse it anyway, :class:`DomainTaken`).
    """
    wanted = normalize_domains(domains)
    taken = dict(
        VerifiedDomain.objects.filter(domain__in=wanted)
        .exclude(connection__slug=slug)
        .values_list("domain", "connection__slug")
    )
    for other, options in declared_connections().items():
        if other != slug:
            for domain in set(wanted).intersection(normalize_domains(options["verified_domains"])):
                taken.setdefault(domain, other)
    return taken


def declared_clashes() -> dict[str, list[str]]:
    """domain -> the declared connections (two or more) whose settings verify it."""
    owners: dict[str, list[str]] = defaultdict(list)
    for slug, options in settings_connections().items():
        for domain in normalize_domains(options.get("verified_domains")):
            owners[domain].append(slug)
    return {domain: slugs for domain, slugs in owners.items() if len(slugs) > 1}


def database_clashes() -> dict[str, tuple[str, str]]:
    """domain -> (declared slug, database slug) for a declared domain another row claims."""
    declared: dict[str, str] = {}
    for slug, options in settings_connections().items():
        for domain in normalize_domains(options.get("verified_domains")):
            declared.setdefault(domain, slug)
    rows = VerifiedDomain.objects.filter(domain__in=list(declared)).values_list(
        "domain", "connection__slug"
    )
    return {domain: (declared[domain], slug) for domain, slug in rows if declared[domain] != slug}


def sync_declared_domains(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> list[DomainTaken]:
    """Claim the domains of every declared connection that has a row; returns the refusals.

    Connected to ``post_migrate``: a domain added to a declaration after its row was created
    is claimed at the next ``migrate``. A clash is left to system check ``E031`` to report.
    """
    refused = []
    declared = Connection.objects.using(using).filter(slug__in=list(declared_connections()))
    for connection in declared:
        try:
            with transaction.atomic(using=using):
                connection.claim_domains()
        except DomainTaken as exc:
            refused.append(exc)
    return refused


@register(Tags.compatibility)
def check_declared_domains(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E030: two connections declared in settings verify one domain."""
    return [
        Error(
            f"The domain {domain!r} is verified by the declared connections "
            f"{', '.join(repr(s) for s in slugs)}; a domain is verified for one connection only.",
            hint="Keep it in the verified_domains of one of them.",
            obj="DJANGO_PROVISIONING",
            id="django_provisioning.E030",
        )
        for domain, slugs in sorted(declared_clashes().items())
    ]


@register(Tags.database)
def check_database_domains(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """E031: a declared connection verifies a domain a database connection has claimed.

    A database check: run by ``migrate`` and ``check --database default``.
    """
    if not databases:
        return []
    try:
        clashes = database_clashes()
    except DatabaseError:
        return []  # not migrated yet: nothing claimed
    return [
        Error(
            f"The domain {domain!r} is verified by the declared connection {declared!r} and "
            f"claimed in the database by the connection {row!r}; a domain is verified for one "
            "connection only.",
            hint=f"Remove it from {row!r} (admin) or from {declared!r} (settings).",
            obj="DJANGO_PROVISIONING",
            id="django_provisioning.E031",
        )
        for domain, (declared, row) in sorted(clashes.items())
    ]
