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

from django.db import IntegrityError

from .compiled import CompiledQuery, Slot, first
from .exceptions import Conflict
from .models import UserNameClaim

TAKEN = "A user with this userName already exists."

#: The claim of a name with its user: every create and rename reads it (compiled once).
CLAIM_OF = CompiledQuery(
    UserNameClaim,
    lambda normalized: (
        UserNameClaim.objects.filter(user_name_normalized=normalized)
        .select_related("user")
        .order_by()[:1]
    ),
    Slot.of(UserNameClaim, "user_name_normalized"),
)


def holder_of(normalized: str) -> Any:
    """The user who holds *normalized*, or None (the name is unique: one claim at most)."""
    found = first(CLAIM_OF.run(normalized))
    return found.user if found is not None else None


def claim(user: Any, normalized: str, *, new: bool = False) -> None:
    """Take *normalized* for *user* (saved); :class:`Conflict` if another account holds it.

    *new*: the user was created in this transaction, so any holder is another account: a
    plain INSERT, its unique violation the Conflict (which ends the write; no savepoint).
    Otherwise the insert is skipped when the name is held (``ON CONFLICT DO NOTHING``; it waits
    for a transaction inserting the same name) and the holder is read back.
    """
    if new:
        try:
            UserNameClaim.objects.create(user_name_normalized=normalized, user=user)
        except IntegrityError as exc:
            raise Conflict(TAKEN) from exc
        return
    UserNameClaim.objects.bulk_create(
        [UserNameClaim(user_name_normalized=normalized, user=user)], ignore_conflicts=True
    )
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
