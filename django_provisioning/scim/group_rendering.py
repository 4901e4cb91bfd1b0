"""Render ``ExternalGroup`` link rows as SCIM Group resources (RFC 7643 §4.2).

A group's ``members`` are the users a door granted membership of it (its ``GroupGrant`` rows)
who have a live link row in the group's connection: ``value`` (the user's SCIM id), ``$ref``,
``display`` (the userName) and ``type`` (``"User"``). A group of 50,000 members is not loaded
whole: :func:`group_response` streams one group's members from a database cursor in chunks
(one query, memory bounded by the chunk), and :func:`member_keys` tells from the request's
``attributes`` / ``excludedAttributes`` whether members are read at all. A list page
(:func:`group_page`) reads the members of its groups from one query, no further than the
``SCIM_MAX_RESPONSE_BYTES`` budget, and stays within it like a page of users.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.db.models import F, QuerySet
from django.db.models.lookups import Exact
from django.http import StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from ..db import NotIndexed
from ..models import Connection, ExternalGroup, GroupGrant
from ..schema.definitions import GROUP_RESOURCE
from .cursors import Position, Window
from .paging import budget, finish, page_keys, sort_matches, window_of
from .renderers import RenderedJSON, to_json
from .rendering import Projection, base_url

#: Members read from the cursor (and sent) at a time.
STREAM_CHUNK = 1000
_PROBE = {"value": "v", "$ref": "r", "display": "d", "type": "User"}

Member = tuple[Any, Any, str]  # (external group pk, user SCIM id, userName)


def group_location(request: Request | Any, row: ExternalGroup) -> str:
    return f"{base_url(request)}Groups/{row.scim_id}"


def render_group(request: Request | Any, row: ExternalGroup) -> dict[str, Any]:
    """A group without its members (they are rendered apart: see :func:`member_keys`)."""
    resource: dict[str, Any] = {"schemas": [GROUP_RESOURCE.schema.id], "id": str(row.scim_id)}
    if row.external_id:
        resource["externalId"] = row.external_id
    resource["displayName"] = row.display_name
    resource["meta"] = {
        "resourceType": "Group",
        "created": row.created_at.isoformat(),
        "lastModified": row.updated_at.isoformat(),
        "location": group_location(request, row),
        "version": row.etag,
    }
    return resource


def member_keys(projection: Projection) -> tuple[str, ...] | None:
    """The member sub-attributes the request returns, or None when it returns no members
    (``excludedAttributes=members``, or ``attributes`` without them)."""
    probe = projection({"schemas": [], "id": "x", "members": [_PROBE]})
    members = probe.get("members")
    return tuple(members[0]) if members else None


def member_rows(connection: Connection, group_pks: list[Any]) -> QuerySet[Any, Member]:
    """(group pk, user SCIM id, userName) of the groups' members, in one query."""
    return (
        GroupGrant.objects.filter(
            # Written +connection_id on SQLite: its planner (no statistics) otherwise starts
            # from every link row of the connection, not from the groups' grants.
            Exact(NotIndexed(F("user__external_identities__connection")), connection.pk),
            external_group_id__in=group_pks,
            user__external_identities__deleted_at=None,
        )
        .values_list(
            "external_group_id",
            "user__external_identities__scim_id",
            "user__external_identities__user_name",
        )
        # The grant index's order (external group, user): a cursor walks it, never the
        # index of every user's SCIM id.
        .order_by("external_group_id", "user_id")
    )


def _member(root: str, keys: tuple[str, ...], scim_id: Any, user_name: str) -> dict[str, Any]:
    values = {"value": str(scim_id), "$ref": f"{root}Users/{scim_id}", "display": user_name}
    values["type"] = "User"
    return {key: values[key] for key in keys}


def _stream(head: bytes, rows: Iterator[Member], root: str, keys: tuple[str, ...]) -> Any:
    """The group's JSON: *head* (the group without members), its members appended, in
    chunks as the cursor yields them."""
    first = next(rows, None)
    if first is None:
        yield head  # no members: the attribute is left out (RFC 7643 §2.5)
        return
    chunk = [to_json(_member(root, keys, first[1], first[2]))]
    yield head[:-1] + b',"members":['
    for _group_pk, scim_id, user_name in rows:
        if len(chunk) >= STREAM_CHUNK:
            yield b",".join(chunk) + b","
            chunk = []
        chunk.append(to_json(_member(root, keys, scim_id, user_name)))
    yield b",".join(chunk) + b"]}"


def group_response(
    request: Request,
    row: ExternalGroup,
    projection: Projection,
    *,
    status: int = 200,
    members: bool = True,
) -> Any:
    """One group, its members streamed (unless *members* is false or the request excludes
    them): a fixed number of queries and memory that does not grow with the members."""
    headers = {"ETag": row.etag}
    if status == 201:
        headers["Location"] = group_location(request, row)
    resource = projection(render_group(request, row))
    keys = member_keys(projection) if members else None
    if keys is None:
        return Response(resource, status=status, headers=headers)
    rows = member_rows(row.connection, [row.pk]).iterator(chunk_size=STREAM_CHUNK)
    response = StreamingHttpResponse(
        _stream(to_json(resource), rows, base_url(request), keys),
        status=status,
        content_type=request.accepted_renderer.media_type,
    )
    for name, value in headers.items():
        response[name] = value
    return response


def page_members(
    root: str, keys: tuple[str, ...], connection: Connection, group_pks: list[Any], room: int
) -> tuple[dict[Any, list[dict[str, Any]]], Any]:
    """The members of a page's groups, read from one cursor in the grant index's order until
    their JSON passes *room* bytes (no page could hold more). Returns them and the group pk
    the reading stopped in (None when every member was read): that group, and any of a larger
    pk, are incomplete."""
    members: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    used = 0
    rows = member_rows(connection, group_pks).iterator(chunk_size=STREAM_CHUNK)
    for group_pk, scim_id, user_name in rows:
        member = _member(root, keys, scim_id, user_name)
        members[group_pk].append(member)
        used += len(to_json(member)) + 1
        if used > room:
            return members, group_pk
    return members, None


def group_page(
    request: Request,
    ordered: QuerySet[ExternalGroup],
    connection: Connection,
    projection: Projection,
    *,
    total: int,
    window: Window,
) -> RenderedJSON:
    """The ListResponse of the page *window* of *ordered* (:mod:`.paging`), cut short at
    ``SCIM_MAX_RESPONSE_BYTES`` (:func:`render_groups`)."""
    rows: list[ExternalGroup] = []
    more = False
    if window.cursor or total >= window.start:
        keys, more = page_keys(ordered, window, "pk")
        by_key = sort_matches(ordered, len(keys)).filter(pk__in=[key[0] for key in keys])
        rows = list(by_key) if keys else []
    return render_groups(
        request, rows, connection, projection, total=total, window=window, more=more
    )


def group_matches_page(
    request: Request,
    matches: list[ExternalGroup],
    connection: Connection,
    projection: Projection,
    *,
    window: Window,
) -> RenderedJSON:
    """The ListResponse page *window* (index pagination) of *matches*, every group the
    filter matched (:func:`.lookup.few_groups`: fewer than two)."""
    rows = window_of(matches, window)
    return render_groups(request, rows, connection, projection, total=len(matches), window=window)


def render_groups(
    request: Request,
    rows: list[ExternalGroup],
    connection: Connection,
    projection: Projection,
    *,
    total: int,
    window: Window,
    more: bool = False,
) -> RenderedJSON:
    """The ListResponse of *rows*, cut short at ``SCIM_MAX_RESPONSE_BYTES``; *more*: rows
    follow them. The members of the groups come from one query, read only as far as the
    budget: memory stays bounded by it, however large the groups. A first group larger than
    the budget is still served, alone (its members then read apart)."""
    parts: list[bytes] = []
    last: Position | None = None
    keys_of = member_keys(projection)
    room = budget(total, window)
    root = base_url(request)
    members: dict[Any, list[dict[str, Any]]] = {}
    stopped: Any = None
    if keys_of is not None and rows:
        members, stopped = page_members(root, keys_of, connection, [r.pk for r in rows], room)
    used = 0
    for row in rows:
        if keys_of is not None and stopped is not None and row.pk >= stopped:
            if parts:
                more = True  # its members did not fit: the next page starts with it
                break
            own = member_rows(connection, [row.pk])
            members[row.pk] = [_member(root, keys_of, v, name) for _pk, v, name in own]
        row.connection = connection
        resource = projection(render_group(request, row))
        if members.get(row.pk):
            resource["members"] = members[row.pk]
        part = to_json(resource)
        if parts and used + len(part) + 1 > room:
            more = True
            break
        parts.append(part)
        used += len(part) + 1
        last = Position(row.created_at, row.pk)
    return finish(parts, total, window, more, last)
