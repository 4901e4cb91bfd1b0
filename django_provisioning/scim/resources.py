"""Render link rows as SCIM User resources (RFC 7643 §3.1 common attributes, §4.1 User)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.request import Request

from ..adapter import get_adapter
from ..models import Connection, ExternalIdentity
from ..provisioning import groups_through
from ..schema.definitions import USER_RESOURCE


def base_url(request: Request | Any) -> str:
    """The absolute URL of the SCIM root (where this app's urls are included)."""
    from django.urls import reverse

    return request.build_absolute_uri(reverse("django_provisioning_scim:root"))


def user_location(request: Request | Any, identity: ExternalIdentity) -> str:
    return f"{base_url(request)}Users/{identity.scim_id}"


def load_groups(
    connection: Connection, identities: Sequence[ExternalIdentity]
) -> dict[Any, list[dict[str, Any]]]:
    """The connection's groups of each user, in one query (the ``groups`` attribute)."""
    model = get_user_model()
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if not identities or not hasattr(model, "groups"):
        return out
    through, user_col, group_col = groups_through(model)
    group = group_col.removesuffix("_id")
    rows = (
        through.objects.filter(
            **{f"{user_col}__in": [i.user_id for i in identities]},
            **{f"{group}__external_groups__connection": connection},
        )
        .values_list(
            user_col,
            f"{group}__external_groups__scim_id",
            f"{group}__external_groups__display_name",
        )
        .order_by(f"{group}__external_groups__display_name")
    )
    for user_id, scim_id, display in rows:
        out[user_id].append({"value": str(scim_id), "display": display, "type": "direct"})
    return out


def render_user(
    request: Request | Any,
    identity: ExternalIdentity,
    groups: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The full SCIM representation of one user (before attribute projection)."""
    adapter = get_adapter()
    doc = adapter.user_to_document(identity.user, identity.document, identity.connection)
    doc.pop("password", None)
    location = user_location(request, identity)
    root = base_url(request)
    schemas = [USER_RESOURCE.schema.id]
    schemas += [e.id for e in USER_RESOURCE.extensions if doc.get(e.id)]
    resource: dict[str, Any] = {"schemas": schemas, "id": str(identity.scim_id)}
    if identity.external_id:
        resource["externalId"] = identity.external_id
    resource.update(doc)
    resource.pop("groups", None)
    if groups:
        resource["groups"] = [{**g, "$ref": f"{root}Groups/{g['value']}"} for g in groups]
    resource["meta"] = {
        "resourceType": "User",
        "created": identity.created_at.isoformat(),
        "lastModified": identity.updated_at.isoformat(),
        "location": location,
        "version": identity.etag,
    }
    return resource
