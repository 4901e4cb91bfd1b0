"""Remember which sessions belong to which user, so deprovisioning can end them.

Django has no index from user to session; without one, a deactivated user's browser keeps its
session until the next request is checked. Every login (any backend) records its session key,
and :func:`end_user_sessions` deletes those sessions through the configured session engine.

A SAML sign-in also records the connection, NameID and SessionIndex of its session, in the same
row and the same statement (:func:`expect_saml_session` before ``login()``), so an identity
provider's LogoutRequest ends the sessions it
names (:func:`saml_session_keys`, :func:`end_sessions`) wherever they were opened: by an index
lookup, not by reading every session, and through the session engine, so on every process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import connections
from django.dispatch import receiver

from .models import UserSession

if TYPE_CHECKING:
    from .models import Connection

#: The lengths of the NameID and SessionIndex columns: longer values are stored (and looked
#: up) as a SHA-256 digest, never cut (two long NameIDs could share their first 512 characters).
MAX_NAME_ID = 512
MAX_SESSION_INDEX = 255


#: The request attribute :func:`expect_saml_session` sets for :func:`record_session`.
_SAML_SESSION = "_dp_saml_session"


def expect_saml_session(
    request: Any, connection: Connection, name_id: str, session_index: str | None
) -> None:
    """Have the next ``login()`` on *request* record its session as signed in through
    *connection* as *name_id* (with *session_index*), in the row :func:`record_session` writes."""
    setattr(
        request,
        _SAML_SESSION,
        {
            "connection": connection,
            "name_id": _stored(name_id, MAX_NAME_ID),
            "session_index": _stored(session_index or "", MAX_SESSION_INDEX),
        },
    )


@receiver(user_logged_in, dispatch_uid="django_provisioning.record_session")
def record_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is None or user is None or user.pk is None:
        return
    if session.session_key is None:
        session.save()
    key = session.session_key
    saml = getattr(request, _SAML_SESSION, None) or {
        "connection": None,
        "name_id": "",
        "session_index": "",
    }
    fields = {"user_id": user.pk, **saml}
    # login() has just given the session a new random key; a row already there for it is a
    # stale one (an expired session's), taken over. One upsert where the database has one.
    features = connections[UserSession.objects.db].features
    if features.supports_update_conflicts_with_target:
        UserSession.objects.bulk_create(
            [UserSession(session_key=key, **fields)],
            update_conflicts=True,
            unique_fields=["session_key"],
            update_fields=list(fields),
        )
    else:
        UserSession.objects.update_or_create(session_key=key, defaults=fields)


@receiver(user_logged_out, dispatch_uid="django_provisioning.forget_session")
def forget_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        UserSession.objects.filter(session_key=session.session_key).delete()


def end_sessions(keys: list[str]) -> int:
    """Delete the sessions *keys* through the session engine and forget them; how many."""
    if not keys:
        return 0
    engine = import_module(settings.SESSION_ENGINE)
    for key in keys:
        engine.SessionStore(session_key=key).delete()
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def end_user_sessions(user_id: Any) -> int:
    """Delete every recorded session of *user_id*; return how many were ended."""
    engine = import_module(settings.SESSION_ENGINE)
    keys = list(UserSession.objects.filter(user_id=user_id).values_list("session_key", flat=True))
    for key in keys:
        engine.SessionStore(session_key=key).delete()
    UserSession.objects.filter(user_id=user_id).delete()
    return len(keys)


def _stored(value: str, limit: int) -> str:
    if len(value) > limit:
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return value


def saml_session_keys(
    connection: Connection, name_id: str, session_indexes: Iterable[str] = ()
) -> list[str]:
    """The recorded sessions signed in through *connection* as *name_id*.

    With *session_indexes*, only those whose SessionIndex is one of them (SAML core §3.7.1);
    without, all of that NameID's sessions of the connection.
    """
    if not name_id:
        return []
    found = UserSession.objects.filter(connection=connection, name_id=_stored(name_id, MAX_NAME_ID))
    indexes = [_stored(index, MAX_SESSION_INDEX) for index in session_indexes if index]
    if indexes:
        found = found.filter(session_index__in=indexes)
    return list(found.values_list("session_key", flat=True))
