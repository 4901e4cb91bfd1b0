"""The local username: what the account is called in the product, apart from the IdP's userName.

The SCIM ``userName`` is the identity provider's name for the person, kept whole in the link
row (``ExternalIdentity.user_name``), unique per connection, and what a client reads and
filters on. The *local* name is the user model's ``USERNAME_FIELD``: the userName by default
(the path mapped onto it, see :mod:`.mapping`; the primary e-mail on an e-mail user model), or
a name the adapter's ``generate_username`` hook made up when the IdP's value is taken by
another account or does not fit the field. One local account per normalised local name, across
every connection: :mod:`.claims` holds it.

This module is given the adapter by its callers (the provisioning core); it imports none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from .claims import TAKEN
from .conf import provisioning_settings
from .exceptions import Conflict, InvalidData
from .schema.paths import get_path

if TYPE_CHECKING:
    from .adapter import DefaultAdapter
    from .models import Connection

__all__ = [
    "TAKEN",
    "assign",
    "generates",
    "keep_unless_renamed",
    "local_name",
    "numbered_username",
]


def local_name(user: Any) -> str:
    """The user's value of ``USERNAME_FIELD`` (empty when unset)."""
    return str(getattr(user, type(user).USERNAME_FIELD, "") or "")


def _unfit(user: Any, name: str) -> str | None:
    """Why *name* does not fit the user model's ``USERNAME_FIELD`` (None: it fits)."""
    field = type(user)._meta.get_field(type(user).USERNAME_FIELD)
    if not name.strip():
        return "The user name is empty."
    try:
        field.clean(name, user)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


def _taken(
    adapter: DefaultAdapter, connection: Connection, user: Any, name: str, seen: dict[str, Any]
) -> bool:
    key = name.strip()
    holder = seen[key] if key in seen else adapter.find_user_by_user_name(connection, name)
    return holder is not None and holder.pk != user.pk


def assign(
    adapter: DefaultAdapter,
    connection: Connection,
    user: Any,
    document: dict[str, Any],
    seen: dict[str, Any] | None = None,
) -> str:
    """Make sure *user*'s local name is free and fits; return it normalised (the claim's key).

    The name ``populate_user`` wrote is kept when no other account holds it (normalised) and
    the field's validators accept it (*seen*: names already looked up in this transaction,
    and their holders, from :func:`~.linking.find_linkable_user`). Otherwise the adapter's
    ``generate_username`` is asked, up to ``USERNAME_ATTEMPTS`` times, for another; when it
    gives none (the default), a taken name is :class:`Conflict` (409 uniqueness) and an unfit
    one is left to the field's validation (400 invalidValue), as without the hook.
    """
    proposed = local_name(user)
    name = proposed
    attempts = int(provisioning_settings.USERNAME_ATTEMPTS)
    for attempt in range(attempts + 1):
        unfit = _unfit(user, name)
        taken = unfit is None and _taken(adapter, connection, user, name, seen or {})
        if unfit is None and not taken:
            setattr(user, type(user).USERNAME_FIELD, name)
            return adapter.normalize_user_name(name)
        generated = (
            adapter.generate_username(connection, document, proposed, attempt=attempt + 1)
            if attempt < attempts
            else None
        )
        if generated is None:
            if attempt == 0 and unfit is not None:
                return adapter.normalize_user_name(name)  # full_clean refuses it, as before
            if unfit is not None:
                raise InvalidData(f"No user name that fits could be made: {unfit}")
            raise Conflict(TAKEN)
        name = str(generated)
    raise Conflict(TAKEN)  # pragma: no cover - the loop returns or raises


def keep_unless_renamed(
    adapter: DefaultAdapter,
    user: Any,
    old_name: str,
    before: dict[str, Any],
    after: dict[str, Any],
    source: Any,
) -> None:
    """On an update, keep the local name unless the value it comes from changed.

    ``populate_user`` writes every mapped field again; the local name may differ from its
    source (a generated name, a rename in the product): it follows the identity provider only
    when the IdP's value (*source*, the path mapped onto ``USERNAME_FIELD``; userName when
    that is absent or unmapped) changes, compared normalised between the stored document
    *before* and the new one.
    """
    old, new = before.get("userName"), after.get("userName")
    if source is not None:
        # The source, else the userName that populate_user fell back on.
        old, new = get_path(before, source) or old, get_path(after, source) or new
    same = adapter.normalize_user_name(str(old or "")) == adapter.normalize_user_name(
        str(new or "")
    )
    if same and old_name:
        setattr(user, type(user).USERNAME_FIELD, old_name)


def generates(adapter: DefaultAdapter) -> bool:
    """Whether the adapter overrides ``generate_username`` (so a lost race is worth a retry)."""
    from .adapter import DefaultAdapter

    return type(adapter).generate_username is not DefaultAdapter.generate_username


def numbered_username(proposed: str, attempt: int, *, max_length: int = 150) -> str:
    """``bob`` → ``bob2``, ``bob3``... (cut to fit *max_length*); for ``generate_username``.

    An e-mail-like name is numbered before the ``@`` (``bob2@example.com``).
    """
    local, at, domain = proposed.partition("@") if "@" in proposed else (proposed, "", "")
    suffix = str(attempt + 1)
    room = max_length - len(suffix) - len(at) - len(domain)
    if room < 1:
        local, at, domain = proposed, "", ""
        room = max_length - len(suffix)
    return f"{local[:room]}{suffix}{at}{domain}"
