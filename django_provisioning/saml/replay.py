"""The assertion replay cache, shared by every process through the database.

python3-saml accepts the same valid response as often as it is posted. Each accepted assertion
id is inserted into :class:`~django_provisioning.models.SamlAssertionReplay`, whose unique
constraint on (connection, assertion id) makes the second insert fail even when two processes
race. Rows are kept until the assertion could no longer be accepted anyway (its latest
NotOnOrAfter plus the connection's clock skew), then pruned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import SamlAssertionReplay
from .errors import SamlError

if TYPE_CHECKING:
    from ..models import Connection


def prune_expired(now: dt.datetime | None = None) -> int:
    """Delete the rows of assertions that have expired; return how many went."""
    deleted, _ = SamlAssertionReplay.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def consume_assertion(connection: Connection, assertion_id: str, expires_at: dt.datetime) -> None:
    """Record *assertion_id* as used; raise :class:`SamlError` ("replayed") if it already was."""
    prune_expired()
    if len(assertion_id) > 255:
        assertion_id = "sha256:" + hashlib.sha256(assertion_id.encode()).hexdigest()
    try:
        with transaction.atomic():
            SamlAssertionReplay.objects.create(
                connection=connection, assertion_id=assertion_id, expires_at=expires_at
            )
    except IntegrityError as exc:
        raise SamlError("replayed", f"assertion {assertion_id[:80]!r} seen before") from exc
