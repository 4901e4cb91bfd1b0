"""A ListResponse page built within a byte budget (RFC 7644 §3.4.2.4).

``count`` bounds a page in resources, but a resource can be large: a page of 40 users
stuffed to the value limits was ~35 MiB. So a page is also bounded in bytes
(``SCIM_MAX_RESPONSE_BYTES``): each resource is serialized as it is rendered, and the page
ends before the one that would cross the budget. RFC 7644 §3.4.2.4 allows fewer results than
asked for: ``itemsPerPage`` says how many the page holds, ``totalResults`` stays the total,
and a client continues from ``startIndex + itemsPerPage``. A page holds at least one resource
while any remain, however large, so paging always progresses.

Rows are read in chunks and rendering stops at the budget, so the rows past it are neither
rendered nor (beyond the current chunk) loaded. Queries stay fixed whatever the page size:
the page's keys, the groups of those users, then the rows themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet

from ..conf import provisioning_settings
from ..models import Connection, ExternalIdentity
from .messages import LIST_RESPONSE_SCHEMA
from .renderers import RenderedJSON, to_json
from .rendering import groups_of_users

#: Rows fetched at a time: what is loaded past the budget is at most this many rows.
CHUNK_SIZE = 20

Render = Callable[[ExternalIdentity, list[dict[str, Any]] | None], dict[str, Any]]


def _envelope(total: int, items: int, start: int) -> bytes:
    return to_json(
        {
            "schemas": [LIST_RESPONSE_SCHEMA],
            "totalResults": total,
            "itemsPerPage": items,
            "startIndex": start,
        }
    )


def list_page(
    ordered: QuerySet[ExternalIdentity],
    connection: Connection,
    *,
    total: int,
    start: int,
    count: int,
    render: Render,
) -> RenderedJSON:
    """The ListResponse of resources *start* .. *start* + *count* - 1 of *ordered*, cut short
    at ``SCIM_MAX_RESPONSE_BYTES``; *render* turns a row and its groups into a resource."""
    parts: list[bytes] = []
    # start > total: an empty page without a query (an OFFSET past 2**63 is a database error).
    if count and total >= start:
        keys = list(ordered.values_list("pk", "user_id")[start - 1 : start - 1 + count])
        groups = groups_of_users(connection, [user_id for _pk, user_id in keys])
        rows = ordered.filter(pk__in=[pk for pk, _user_id in keys])
        budget = provisioning_settings.SCIM_MAX_RESPONSE_BYTES - len(
            _envelope(total, count, start) + b',"Resources":[]'
        )
        used = 0
        for identity in rows.iterator(chunk_size=CHUNK_SIZE):
            identity.connection = connection  # already loaded: no query per row
            part = to_json(render(identity, groups.get(identity.user_id)))
            if parts and used + len(part) + 1 > budget:
                break  # the next page starts here
            parts.append(part)
            used += len(part) + 1
    head = _envelope(total, len(parts), start)[:-1]
    return RenderedJSON(head + b',"Resources":[' + b",".join(parts) + b"]}")
