"""Username claims: one local account per normalised local username, across every connection.

A claim is a row of :class:`~django_provisioning.models.UserNameClaim`, unique on the
normalised *local* username (the user model's ``USERNAME_FIELD``, see :mod:`.usernames`, in
``adapter.normalize_user_name``'s form): the SCIM userName by default, a generated name when
the adapter made one up. The core takes the claim in the same
transaction that creates or renames the account, after the user row is written and locked, so
of two requests creating the same name at once the second fails on the unique index and
answers :class:`~django_provisioning.exceptions.Conflict`, whichever connections they come from.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from .exceptions import Conflict
from .models import UserNameClaim

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
    """Give up *user*'s claim of *normalized*, the local username it had before a rename."""
    UserNameClaim.objects.filter(user=user, user_name_normalized=normalized).delete()
