"""The core decides under the locks it takes, whatever copy of the link row the caller holds.

Every core write locks the link row, then the user row, and re-reads what decides the outcome
(``active``, the version, ``deleted_at``), so a caller's stale copy can neither undo a
deactivation nor reuse a version. These tests hand the core such stale copies, which is what a
racing request holds; tests/saml/test_races.py races real threads on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from django_provisioning import jit
from django_provisioning.exceptions import Gone, ProvisioningDenied
from django_provisioning.jit import provision_from_saml
from django_provisioning.models import AuditEvent, ExternalIdentity, NameIdFormat
from django_provisioning.provisioning import deactivate_user, delete_user, replace_user

from .factories import scim_user

User = get_user_model()


def stale(identity: ExternalIdentity) -> ExternalIdentity:
    """A copy read now, as a request that started now holds it."""
    return ExternalIdentity.objects.select_related("user", "connection").get(pk=identity.pk)


def test_jit_update_from_a_stale_read_never_reactivates(connection: Any) -> None:
    identity = scim_user(connection, "alice@example.com")
    read_before = stale(identity)
    deactivate_user(identity)

    with pytest.raises(ProvisioningDenied, match="deactivated"):
        replace_user(read_before, {**read_before.document, "displayName": "Alice"}, source="saml")

    identity.refresh_from_db()
    assert identity.user.is_active is False
    assert identity.version == 2  # the deactivation's version; nothing written after it
    assert not AuditEvent.objects.filter(source="saml").exists()


def test_jit_merge_never_turns_active_on(connection: Any) -> None:
    """An IdP attribute mapped to ``active`` cannot reactivate through JIT either."""
    identity, _ = provision_from_saml(
        connection,
        name_id="alice@example.com",
        name_id_format=NameIdFormat.EMAIL,
        document={"userName": "alice@example.com"},
    )
    read_before = stale(identity)
    deactivate_user(identity)
    with pytest.raises(ProvisioningDenied):
        replace_user(read_before, {"userName": "alice@example.com", "active": True}, source="saml")
    assert User.objects.get().is_active is False


def test_stale_writer_gets_the_next_version_not_a_used_one(connection: Any) -> None:
    identity = scim_user(connection, "alice@example.com")
    read_before = stale(identity)
    replace_user(identity, {**identity.document, "displayName": "First"})

    written = replace_user(read_before, {**read_before.document, "displayName": "Second"})

    assert written.version == 3
    identity.refresh_from_db()
    assert (identity.version, identity.document["displayName"]) == (3, "Second")


def test_stale_writer_does_not_undo_a_scim_delete(connection: Any) -> None:
    identity = scim_user(connection, "alice@example.com")
    read_before = stale(identity)
    delete_user(identity)

    with pytest.raises(Gone):  # SCIM answers 404, as for any deleted resource
        replace_user(read_before, {**read_before.document, "displayName": "Late"})

    identity.refresh_from_db()
    assert identity.deleted_at is not None
    assert identity.user.is_active is False


def test_stale_deactivation_does_not_reuse_a_version(connection: Any) -> None:
    identity = scim_user(connection, "alice@example.com")
    read_before = stale(identity)
    replace_user(identity, {**identity.document, "displayName": "Renamed"})

    deactivate_user(read_before)

    identity.refresh_from_db()
    assert identity.version == 3
    assert identity.document["displayName"] == "Renamed"  # not the stale document
    assert identity.user.is_active is False


def test_jit_create_that_loses_to_a_scim_post_signs_the_person_in(
    connection: Any, monkeypatch: Any
) -> None:
    """JIT looked the person up (nobody), then SCIM created them: JIT takes their account.

    The lookup is made to miss once, which is what happens when the SCIM POST commits between
    JIT's lookup and its insert.
    """
    pushed = scim_user(connection, "alice@example.com", externalId="okta-1")
    real_find = jit.find_identity_for_saml
    calls: list[int] = []

    def find_missing_first(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else real_find(*args, **kwargs)

    monkeypatch.setattr(jit, "find_identity_for_saml", find_missing_first)

    identity, created = provision_from_saml(
        connection,
        name_id="alice@example.com",
        name_id_format=NameIdFormat.EMAIL,
        document={"userName": "alice@example.com", "displayName": "Alice"},
    )

    assert not created
    assert identity.pk == pushed.pk
    assert identity.name_id == "alice@example.com"
    assert len(calls) == 2  # the lookup, then the same lookup after the lost race
    assert User.objects.count() == 1
    assert ExternalIdentity.objects.count() == 1
