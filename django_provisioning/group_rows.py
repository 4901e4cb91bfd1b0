"""IdP group link rows (``ExternalGroup``) found, linked, locked and audited: what the SAML
group sync (:mod:`.groups`) and the /Groups writes (:mod:`.group_writes`) share."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db.models import F, Q
from django.utils import timezone

from . import records, signals
from .adapter import get_adapter
from .exceptions import Gone, InvalidData
from .models import AuditEvent, Connection, ExternalGroup

LIMIT = 255  # ExternalGroup.external_id and display_name
#: ``update_group``'s default for ``external_id``: leave it as it is (``None`` clears it).
KEEP: Any = object()
TAKEN = "A group with this displayName or externalId already exists."


def audit(external_group: ExternalGroup, source: str, action: str, **detail: Any) -> None:
    AuditEvent.objects.create(
        connection=external_group.connection,
        source=source,
        action=action,
        target=str(external_group.scim_id),
        detail={"displayName": external_group.display_name, **detail},
    )


def match(connection: Connection, values: list[str]) -> dict[str, ExternalGroup]:
    """value -> the link row it names: by ``external_id``, else by ``display_name``."""
    rows = list(
        ExternalGroup.objects.filter(connection=connection)
        .filter(Q(external_id__in=values) | Q(display_name__in=values))
        .select_related("group")
    )
    by_id = {row.external_id: row for row in rows if row.external_id is not None}
    by_name = {row.display_name: row for row in rows}
    found = {}
    for value in values:
        row = by_id.get(value) or by_name.get(value)
        if row is not None:
            row.connection = connection  # the caller's: it may carry settings laid over the row
            found[value] = row
    return found


def link(external_group: ExternalGroup, source: str) -> bool:
    """Give a new link row its local group (the adapter's hooks); False when the adapter
    leaves the IdP group unsynced. Sends ``group_created`` after commit."""
    adapter = get_adapter()
    connection = external_group.connection
    group, created = adapter.get_or_create_local_group(connection, external_group)
    if group is None:
        return False
    if not created and not adapter.local_groups_for(connection).filter(pk=group.pk).exists():
        raise InvalidData(f"Group {external_group.display_name!r} maps onto a foreign group.")
    if created:
        adapter.attach_group_to_tenant(group, adapter.get_tenant(connection), connection)
    external_group.group = group if isinstance(group, Group) else None
    external_group.owns_group = created
    external_group.save(update_fields=["group", "owns_group"])
    audit(external_group, source, "group_create", created_local_group=created)
    records.send(
        signals.group_created,
        source,
        connection=connection,
        group=group,
        external_group=external_group,
    )
    return True


def check_names(display_name: str, external_id: str | None) -> None:
    if not display_name or len(display_name) > LIMIT:
        raise InvalidData(f"displayName: 1 to {LIMIT} characters.")
    if external_id is not None and len(external_id) > LIMIT:
        raise InvalidData(f"externalId: at most {LIMIT} characters.")


def lock(external_group: ExternalGroup) -> ExternalGroup:
    """*external_group* locked and read again (``Gone`` when it was deleted meanwhile)."""
    row = (
        ExternalGroup.objects.select_for_update(of=("self",))
        .select_related("group")
        .filter(pk=external_group.pk)
        .first()
    )
    if row is None:
        raise Gone("This group no longer exists.")
    row.connection = external_group.connection
    return row


def touch(pks: list[Any]) -> None:
    """A new version for the locked link rows *pks* whose members changed (their ETag)."""
    if pks:
        ExternalGroup.objects.filter(pk__in=pks).update(
            version=F("version") + 1, updated_at=timezone.now()
        )
