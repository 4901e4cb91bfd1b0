"""Remember which sessions belong to which user, so deprovisioning can end them.

Django has no index from user to session; without one, a deactivated user's browser keeps its
session until the next request is checked. Every login (any backend) records its session key,
and :func:`end_user_sessions` deletes those sessions through the configured session engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .models import UserSession


@receiver(user_logged_in, dispatch_uid="django_provisioning.record_session")
def record_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is None or user is None or user.pk is None:
        return
    if session.session_key is None:
        session.save()
    UserSession.objects.update_or_create(
        session_key=session.session_key, defaults={"user_id": user.pk}
    )


@receiver(user_logged_out, dispatch_uid="django_provisioning.forget_session")
def forget_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        UserSession.objects.filter(session_key=session.session_key).delete()


def end_user_sessions(user_id: Any) -> int:
    """Delete every recorded session of *user_id*; return how many were ended."""
    engine = import_module(settings.SESSION_ENGINE)
    keys = list(UserSession.objects.filter(user_id=user_id).values_list("session_key", flat=True))
    for key in keys:
        engine.SessionStore(session_key=key).delete()
    UserSession.objects.filter(user_id=user_id).delete()
    return len(keys)
