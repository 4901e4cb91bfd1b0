"""Signals sent after the provisioning transaction commits. They notify; hooks decide.

Each signal means one thing, and an action that does several things sends one of each. Which
door action sends which signal, with which keyword arguments, is the signal matrix of
``docs/adapter.rst`` ("The signal matrix"); ``tests/test_signals.py`` tests each user cell.
``sender`` is the door (``"scim"`` or ``"saml"``). The user signals carry ``connection``,
``user`` and ``identity`` (the :class:`ExternalIdentity`); ``user_deleted`` adds ``user_id``,
the deleted account's primary key. A ``user_updated`` is never sent for a change of ``active``
alone: that is ``user_deactivated`` or ``user_reactivated``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("django_provisioning")

#: A new account was created for a connection (an existing one linked is ``user_linked``).
user_created = Signal()
#: An existing account was linked to a connection (one the adapter's ``can_link_user`` allows,
#: or the account of a userName deleted under the deactivate policy, pushed again).
user_linked = Signal()
#: What a client reads of the user changed, other than ``active``, or a password was set.
user_updated = Signal()
user_deactivated = Signal()
user_reactivated = Signal()
user_deleted = Signal()
#: A link row went but the account stays (SCIM DELETE under the deactivate policy, or under
#: the delete policy when another connection still links the account).
user_unlinked = Signal()
#: A user signed in over SAML (after ``login()``); extra kwargs ``request`` and ``created``.
saml_user_logged_in = Signal()

# Groups: kwargs ``connection``, ``group`` (the local group), ``external_group`` (the
# :class:`ExternalGroup` link row; an unsaved copy for ``group_deleted``).
group_created = Signal()
group_updated = Signal()
group_deleted = Signal()
#: Members added to / removed from a group: the kwargs above plus ``user_ids`` (the local
#: users' primary keys, a list) -- one signal per change, whatever the number of members.
group_members_added = Signal()
group_members_removed = Signal()

#: A change made through the self-serve setup portal (sender ``"portal"``); kwargs
#: ``connection``, ``kind`` (``"link_opened"``, ``"idp_settings"``, ``"scim_token"``,
#: ``"domain_claimed"``, ``"domain_verified"``), ``details`` (a dict) and ``affected_users``
#: (the number of accounts the connection signs in: replacing its IdP settings lets the new
#: IdP sign in as any of them).
portal_change = Signal()


def send_after_commit(signal: Signal, sender: str, **kwargs: Any) -> None:
    """Send *signal* once the current transaction commits.

    Receivers run through ``send_robust``: one that raises is logged, not re-raised, because the
    change is committed by then and the client (an IdP, or a person signing in) must hear that
    it succeeded; an error would make an IdP retry a create that is done.
    """

    def send() -> None:
        for receiver, result in signal.send_robust(sender=sender, **kwargs):
            if isinstance(result, Exception):
                logger.error(
                    "Receiver %r of a provisioning signal failed", receiver, exc_info=result
                )

    transaction.on_commit(send)
