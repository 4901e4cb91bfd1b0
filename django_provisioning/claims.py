"""userName claims: one local account per normalised userName, across every connection.

A claim is a row of :class:`~django_provisioning.models.UserNameClaim`, unique on the
normalised name (``adapter.normalize_user_name``). The core takes the claim in the same
transaction that creates or renames the account, after the user row is written and locked, so
of two requests creating the same name at once the second fails on the unique index and
answers :class:`~django_provisioning.exceptions.Conflict`, whichever connections they come from.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from .exceptions import Conflict
from .models import ExternalIdentity, UserNameClaim

TAKEN = "A user with this userName already exists."


def holder_of(normalized: str) -> Any:
    """The user who holds *normalized*, or None."""
    claim = UserNameClaim.objects.filter(user_name_normalized=normalized).select_related("user")
    found = claim.first()
    return found.user if found is not None else None


def claim(user: Any, normalized: str) -> None:
    """Take *normalized* for *user* (saved); :class:`Conflict` if another account holds it."""
    holder = (
        UserNameClaim.objects.filter(user_name_normalized=normalized)
        .values_list("user_id", flat=True)
        .first()
    )
    if holder is None:
        try:
            with transaction.atomic():  # a savepoint: a lost race leaves the transaction usable
                UserNameClaim.objects.create(user_name_normalized=normalized, user=user)
            return
        except IntegrityError:
            # Another transaction took it since the SELECT (and has committed: the insert
            # waited for it).
            holder = (
                UserNameClaim.objects.filter(user_name_normalized=normalized)
                .values_list("user_id", flat=True)
                .first()
            )
    if holder != user.pk:
        raise Conflict(TAKEN)


def release(user: Any, normalized: str) -> None:
    """Give *normalized* up, unless one of *user*'s link rows still carries it."""
    still_used = ExternalIdentity.objects.filter(
        user=user, user_name_normalized=normalized
    ).exists()
    if not still_used:
        UserNameClaim.objects.filter(user=user, user_name_normalized=normalized).delete()
