"""Keep a connection's IdP settings current from the metadata URL the IdP publishes.

``manage.py refresh_idp_metadata`` calls :func:`refresh_connection` for each connection with an
``idp_metadata_url``. The metadata is fetched with the timeout and size cap of :mod:`.fetch`
(the operator's URL with ``untrusted=False``; a URL given in the setup portal, marked
``idp_metadata_url_untrusted``, with ``untrusted=True``, as the portal fetched it), parsed by
the hardened parser and checked (:func:`.metadata_import.check_idp_metadata`); only metadata
without a problem is applied, so a broken or expired publication never replaces settings that
work.

Certificate rollover follows the IdP's metadata: the connection trusts exactly the signing
certificates the metadata lists. An IdP announces its next certificate by listing it beside the
current one (both are then trusted), and retires the old one by dropping it from its metadata
(it is then dropped here, at the next refresh). Every change is audited (``AuditEvent`` action
``idp_metadata_refreshed``) with what changed, in the transaction that writes it.

Connections declared in settings are not refreshed: their settings are in force over their row
(:mod:`django_provisioning.declared`), so writing the row would change nothing; the command
says it skipped them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import AuditEvent, Connection
from .config import cert_body
from .fetch import fetch_metadata
from .metadata_import import (
    MetadataError,
    apply_idp_metadata,
    certificate_label,
    check_idp_metadata,
    parse_idp_metadata,
)

AUDIT_ACTION = "idp_metadata_refreshed"


@dataclass
class RefreshResult:
    """What a refresh changed: field names, and certificates added and removed (labels)."""

    slug: str
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not self.changed:
            return f"{self.slug}: unchanged."
        parts = [name for name in self.changed if name != "idp_x509_certs"]
        parts += [f"certificate added {label}" for label in self.added]
        parts += [f"certificate removed {label}" for label in self.removed]
        return f"{self.slug}: " + "; ".join(parts) + "."


def _label(cert: str) -> str:
    try:
        return certificate_label(cert)
    except MetadataError:
        return "(unreadable certificate)"


def refresh_connection(connection: Connection, url: str | None = None) -> RefreshResult:
    """Fetch *url* (default: the connection's ``idp_metadata_url``) and apply it; MetadataError.

    Nothing is written when the fetch, the parse or the check fails; the error says why.
    """
    if connection.from_settings:
        raise MetadataError(
            f"Connection {connection.slug!r} is declared in settings; its IdP settings come "
            "from DJANGO_PROVISIONING['CONNECTIONS'], not from its metadata URL."
        )
    source = (url or connection.idp_metadata_url).strip()
    if not source:
        raise MetadataError(f"Connection {connection.slug!r} has no IdP metadata URL.")
    # A URL given in the setup portal is a stranger's: refetched under the portal's rules
    # (HTTPS, public addresses only), on every refresh, so that a DNS answer or a redirect
    # that changes later cannot turn the cron job into a request to the product's network.
    given = connection.idp_metadata_url.strip()
    untrusted = connection.idp_metadata_url_untrusted and source == given
    xml = fetch_metadata(source, untrusted=untrusted)
    try:
        metadata = parse_idp_metadata(xml)
    except MetadataError as exc:
        if "several identity providers" not in str(exc) or not connection.idp_entity_id:
            raise
        metadata = parse_idp_metadata(xml, connection.idp_entity_id)
    problems = check_idp_metadata(metadata)
    if problems:
        raise MetadataError(f"The metadata at {source} was not applied: " + " ".join(problems))
    return apply_refresh(connection.pk, metadata, source)


def apply_refresh(pk: Any, metadata: Any, source: str) -> RefreshResult:
    """Write *metadata* onto the connection *pk*, locked, with its audit event."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=pk)
        before = {
            "idp_entity_id": connection.idp_entity_id,
            "idp_sso_url": connection.idp_sso_url,
            "idp_slo_url": connection.idp_slo_url,
        }
        old_certs = {cert_body(c): c for c in connection.idp_x509_certs}
        changed = apply_idp_metadata(connection, metadata)
        new_certs = {cert_body(c): c for c in connection.idp_x509_certs}
        if set(old_certs) == set(new_certs) and "idp_x509_certs" in changed:
            # Same certificates, other spelling (PEM armour, order): not a rollover.
            connection.idp_x509_certs = list(old_certs.values())
            changed.remove("idp_x509_certs")
        url_changed = connection.idp_metadata_url != source
        if url_changed:  # the operator's URL (refresh_connection's *url*)
            connection.idp_metadata_url = source
            connection.idp_metadata_url_untrusted = False
        result = RefreshResult(slug=connection.slug, changed=list(changed))
        if not changed and not url_changed:
            return result
        result.added = [_label(new_certs[b]) for b in new_certs if b not in old_certs]
        result.removed = [_label(old_certs[b]) for b in old_certs if b not in new_certs]
        try:
            others = [f.name for f in Connection._meta.fields if f.name not in changed]
            connection.full_clean(exclude=others, validate_unique=False)
        except ValidationError as exc:  # a URL too long for its column, say
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise MetadataError(f"The metadata at {source} was not applied: {problems}") from exc
        connection.save()
        if changed:
            AuditEvent.objects.create(
                connection=connection,
                source=AuditEvent.Source.SAML,
                action=AUDIT_ACTION,
                target=connection.slug,
                detail={
                    "url": source,
                    "changed": {
                        name: {"from": before[name], "to": getattr(connection, name)}
                        for name in changed
                        if name in before
                    },
                    "certificates_added": result.added,
                    "certificates_removed": result.removed,
                },
            )
    return result
