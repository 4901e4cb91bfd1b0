"""Verified e-mail domains: which connection a work e-mail belongs to (home-realm discovery).

A domain is verified for one connection only. The database keeps it so: every connection's
``verified_domains`` are claimed in :class:`~django_provisioning.models.VerifiedDomain`
(unique, lowercased) when the connection is saved (:meth:`Connection.save
<django_provisioning.models.Connection.save>` raises
:class:`~django_provisioning.exceptions.DomainTaken` otherwise). Connections declared in
settings are checked against each other by system check ``django_provisioning.E030`` and
against the database by ``E031``; their claims are written when their row is created and again
after every ``migrate`` (:func:`sync_declared_domains`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction

from .connections import get_connection
from .declared import declared_connections, normalize_domains, settings_connections
from .exceptions import DomainTaken
from .models import Connection, VerifiedDomain


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
        VerifiedDomain.objects.filter(domain=domain, connection__from_settings=False)
        .select_related("connection")
        .first()
    )
    if claim is None or not claim.connection.is_active:
        return None
    return claim.connection


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
