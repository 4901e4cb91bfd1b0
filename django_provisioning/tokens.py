"""SCIM bearer tokens: generated once, stored as a SHA-256 checksum, looked up by it.

A token is ``scim_`` + 43 URL-safe characters (256 random bits). Because it is random and long,
a fast unsalted hash is the right tool (as for django-oauth-toolkit's token checksum): the
lookup is one indexed equality query, and a leaked database does not reveal usable tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.utils import timezone

from .compiled import CompiledQuery, Slot, first
from .conf import provisioning_settings
from .declared import effective
from .models import Connection, ScimToken

TOKEN_PREFIX = "scim_"
PREFIX_LENGTH = 12  # "scim_" + 7 characters kept in clear to recognise a token


#: The token with its connection, by checksum: every SCIM request runs it (compiled once).
TOKEN_BY_CHECKSUM = CompiledQuery(
    ScimToken,
    lambda digest: ScimToken.objects.select_related("connection").filter(checksum=digest)[:1],
    Slot.of(ScimToken, "checksum"),
)


def checksum(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue_token(
    connection: Connection, *, name: str = "", expires_at: datetime | None = None
) -> tuple[ScimToken, str]:
    """Create a token for *connection*; return (row, raw token). The raw token is not stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ScimToken.objects.create(
        connection=connection,
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        checksum=checksum(raw),
        expires_at=expires_at,
    )
    return token, raw


def check_token(raw: str) -> tuple[ScimToken | None, str]:
    """The token row for *raw* and why it may not be used ("" when it may).

    The reason is for the audit trail of refusals (``malformed_token``, ``unknown_token``,
    ``revoked_token``, ``expired_token``, ``inactive_connection``); the client is told none of
    it. The row is returned for a known but unusable token too, so a refusal can name its
    connection and prefix.
    """
    if not raw or len(raw) > 256 or not raw.isascii():
        return None, "malformed_token"  # Tokens are ASCII; anything else cannot match.
    digest = checksum(raw)
    token = first(TOKEN_BY_CHECKSUM.run(digest))
    if token is None or not hmac.compare_digest(token.checksum, digest):
        return None, "unknown_token"
    if token.revoked_at is not None:
        return token, "revoked_token"
    if not token.is_usable:
        return token, "expired_token"
    # select_related loads the connection through Connection.from_db, which already lays the
    # settings over it; effective() says so here, where a stale row would let a token in.
    effective(token.connection)
    if not token.connection.is_active:
        return token, "inactive_connection"
    return token, ""


def authenticate_token(raw: str) -> ScimToken | None:
    """The usable token row for *raw* (with its connection), or None."""
    token, reason = check_token(raw)
    if token is None or reason:
        return None
    record_use(token)
    return token


def record_use(token: ScimToken) -> None:
    """Note that *token* was used, writing ``last_used_at`` at most once per interval."""
    now = timezone.now()
    interval = timedelta(seconds=provisioning_settings.SCIM_TOKEN_LAST_USED_INTERVAL)
    if token.last_used_at is None or now - token.last_used_at >= interval:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def revoke_token(token: ScimToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
