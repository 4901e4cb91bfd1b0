"""Signals sent after the provisioning transaction commits. They notify; hooks decide.

Every signal is sent with ``sender`` = the source (``"scim"`` or ``"saml"``) and keyword
arguments ``connection``, ``user`` and ``identity`` (the :class:`ExternalIdentity`; for
``user_deleted`` the user and identity are unsaved copies of what was deleted).
"""

from __future__ import annotations

from django.dispatch import Signal

user_created = Signal()
user_updated = Signal()
user_deactivated = Signal()
user_reactivated = Signal()
user_deleted = Signal()
#: A user signed in over SAML (after ``login()``); extra kwargs ``request`` and ``created``.
saml_user_logged_in = Signal()
