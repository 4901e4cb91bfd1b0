"""Which part of a list a request asks for: ``startIndex`` (RFC 7644 §3.4.2.4) or a cursor
(RFC 9865).

A list is read in its default order, ``(created_at, id)`` within the connection, served by an
index. *Index pagination* (``startIndex``/``count``) skips rows with an ``OFFSET``: the page's keys
are read from the index alone, but the cost still grows with the offset. *Cursor pagination*
(``cursor``, empty for the first page, then the previous page's ``nextCursor``) continues after
the last resource served, ``WHERE (created_at, id) > (last) ORDER BY created_at, id LIMIT n``:
the same cost at any depth, and no resource skipped or served twice when others are created or
deleted between pages.

A cursor is opaque and tamper-proof: the position of the last resource served, signed with
:mod:`django.core.signing` (the ``SECRET_KEY``) under a salt of this module and the connection,
and bound to the list it pages through (resource type, connection, filter). A cursor that was
not issued for this list, however altered, is ``400 invalidCursor``; one older than
``SCIM_CURSOR_TIMEOUT`` seconds is ``400 expiredCursor``. ``startIndex`` and ``cursor`` together,
and ``sortBy`` with a cursor (only the default order has a keyset), are ``400 invalidValue``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing
from django.db.models import Q

from ..conf import provisioning_settings
from ..models import Connection
from . import errors
from .base import parse_int

SALT = "django_provisioning.scim.cursor"
#: A cursor we issue is far shorter; a longer value is refused before it is verified.
MAX_CURSOR_LENGTH = 512


@dataclass(frozen=True)
class Position:
    """The sort key of the last resource a page served."""

    created_at: datetime
    pk: int

    def after(self) -> Q:
        """The rows after this one in ``(created_at, id)`` order. The ``created_at >=`` bound
        lets the index start there; the rest picks the rows past the tie."""
        return Q(created_at__gte=self.created_at) & (
            Q(created_at__gt=self.created_at) | Q(pk__gt=self.pk)
        )


@dataclass(frozen=True)
class Window:
    """A page request: ``start``/``count`` (index), or ``count`` after ``after`` (cursor)."""

    count: int
    start: int = 1
    #: Cursor pagination: the list the cursor is bound to (None: index pagination).
    scope: str | None = None
    after: Position | None = None
    connection: Connection | None = None

    @property
    def cursor(self) -> bool:
        return self.scope is not None

    def next_cursor(self, position: Position | None) -> str:
        """The cursor of the page after *position* (None: the start of the list)."""
        assert self.scope is not None and self.connection is not None
        payload = [
            self.scope,
            position.created_at.isoformat() if position else None,
            position.pk if position else None,
        ]
        return signing.dumps(payload, salt=_salt(self.connection), compress=False)


def _salt(connection: Connection) -> str:
    return f"{SALT}:{connection.pk}"


def _scope(kind: str, connection: Connection, params: Mapping[str, Any]) -> str:
    """What a cursor is bound to: the resource type, the connection and the filter."""
    filters = sorted(
        (key.lower(), str(params.get(key)))
        for key in params
        if isinstance(key, str) and key.lower() == "filter"
    )
    text = json.dumps([kind, connection.pk, filters], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _position(value: Any, connection: Connection, scope: str) -> Position | None:
    """The position a cursor continues after (None for the first page); refuses any other."""
    if not isinstance(value, str) or len(value) > MAX_CURSOR_LENGTH:
        raise errors.InvalidCursor()
    if value == "":
        return None
    try:
        payload = signing.loads(
            value,
            salt=_salt(connection),
            max_age=provisioning_settings.SCIM_CURSOR_TIMEOUT,
        )
    except signing.SignatureExpired:
        raise errors.ExpiredCursor() from None
    except (signing.BadSignature, ValueError):
        raise errors.InvalidCursor() from None
    if not isinstance(payload, list) or len(payload) != 3 or payload[0] != scope:
        # Signed by us, for another list of this connection (another filter, resource type).
        raise errors.InvalidCursor("The cursor belongs to another list (filter or resource).")
    _scope_digest, created, pk = payload
    if created is None and pk is None:
        return None
    try:
        return Position(datetime.fromisoformat(created), int(pk))
    except (TypeError, ValueError):
        raise errors.InvalidCursor() from None


def read_window(
    params: Mapping[str, Any], connection: Connection, kind: str, *, sort_by: Any = None
) -> Window:
    """The page *params* ask for, of the connection's resources of type *kind*."""
    count = parse_int(params.get("count"), "count", provisioning_settings.SCIM_DEFAULT_COUNT)
    count = min(max(count, 0), provisioning_settings.SCIM_MAX_RESULTS)
    cursor = params.get("cursor")
    if cursor is None:
        # RFC 7644 §3.4.2.4: startIndex < 1 is 1; a negative count is 0.
        return Window(count, start=max(parse_int(params.get("startIndex"), "startIndex", 1), 1))
    if params.get("startIndex") not in (None, ""):
        raise errors.InvalidValue("Use either 'startIndex' or 'cursor', not both.")
    if sort_by:
        raise errors.InvalidValue(
            "'sortBy' is not supported with cursor pagination: page by 'startIndex' instead."
        )
    scope = _scope(kind, connection, params)
    return Window(
        count,
        scope=scope,
        after=_position(cursor, connection, scope),
        connection=connection,
    )
