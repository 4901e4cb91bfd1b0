"""The ``/Groups`` endpoints (RFC 7644 §3.3 to §3.6) and their searches (§3.4.2, §3.4.3).

Thin, as ``/Users`` is: the protocol is parsed here (filter, paging, PATCH forms, ETags), every
write is one call of the core (:mod:`django_provisioning.group_writes`), and rows are rendered
by :mod:`.group_rendering`. A group's members are streamed on ``GET``, ``POST`` and ``PUT``; a
``PATCH`` answers ``204`` without loading them (or ``200`` with the group but not its members
when the request names ``attributes`` / ``excludedAttributes``).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q
from rest_framework.request import Request
from rest_framework.response import Response

from .. import counters, group_writes
from ..models import Connection, ExternalGroup
from ..schema.definitions import GROUP_RESOURCE
from ..schema.document import canonicalize
from . import errors
from .authentication import connection_of
from .base import ScimView
from .cursors import read_window
from .filtering.compiler import order_by_for
from .filtering.filterset import ScimGroupFilterSet, filter_text
from .filtering.group_columns import GroupResolver
from .group_patch import group_change, member_ids
from .group_rendering import group_matches_page, group_page, group_response
from .lookup import few_groups, group_key_lookup
from .paging import sort_matches
from .patch_cost import member
from .rendering import Projection
from .views import (
    UserQueryView,
    UserSearchView,
    check_if_match,
    etag_matches,
    unfiltered_total,
)


def get_group(connection: Connection, scim_id: str) -> ExternalGroup:
    """The connection's group *scim_id* (unlocked: writes lock it again in the core)."""
    try:
        key = uuid.UUID(str(scim_id))
    except ValueError:
        raise errors.NotFound(f"Group {str(scim_id)[:64]} not found.") from None
    row = ExternalGroup.objects.filter(connection=connection, scim_id=key).first()
    if row is None:
        raise errors.NotFound(f"Group {scim_id} not found.")
    row.connection = connection
    return row


def _body(request: Request) -> tuple[str, str | None, list[str]]:
    """displayName, externalId and member ids of a POST / PUT body."""
    data: Any = request.data
    document, _password = canonicalize(data, GROUP_RESOURCE)  # data is an object from here
    # The members as sent (canonicalize drops a member object it finds no value in).
    _present, members = member(data, "members")
    return (
        document["displayName"],
        document.get("externalId") or None,
        member_ids(members) if members is not None else [],
    )


def list_groups(request: Request, view: GroupQueryView, connection: Connection) -> Response:
    """A ListResponse page of groups: filter, sort, paginate, project."""
    params = view.list_params(request)
    # The filter first, so that its errors come before those of sorting and paging. An
    # IdP's lookup (displayName or externalId eq) is parsed here and read further down.
    condition = group_lookup(view, params, connection)
    every = ExternalGroup.objects.filter(connection=connection)
    qs = view.filter_queryset(every) if condition is None else None
    sort_by = params.get("sortBy")
    sort_order = str(params.get("sortOrder") or "ascending").lower()
    if sort_order not in ("ascending", "descending"):
        raise errors.InvalidValue("'sortOrder' must be 'ascending' or 'descending'.")
    if sort_by is not None and not isinstance(sort_by, str):
        raise errors.InvalidValue("'sortBy' must be an attribute path.")
    descending = bool(sort_by) and sort_order == "descending"
    resolver = GroupResolver(connection, index=False)
    order = order_by_for(sort_by or None, connection, descending=descending, resolver=resolver)
    window = read_window(params, connection, "Group", sort_by=sort_by)
    projection = Projection(params, GROUP_RESOURCE)
    total = unfiltered_total(connection, params, counters.GROUPS)
    if condition is not None and total is None and not window.cursor:
        matches = few_groups(connection, condition)
        if matches is not None:  # an IdP's lookup of one group: one statement
            page = group_matches_page(request, matches, connection, projection, window=window)
            return Response(page)
    if qs is None:
        qs = view.filter_queryset(every)
    ordered = qs.order_by(*order).select_related(None)
    if total is None:
        total = qs.count()
        ordered = sort_matches(ordered, total)
    page = group_page(
        request,
        ordered,
        connection,
        projection,
        total=total,
        window=window,
    )
    return Response(page)


def group_lookup(view: GroupQueryView, params: Any, connection: Connection) -> Q | None:
    """The condition of a ``displayName eq`` or ``externalId eq`` filter, whose matches
    :func:`.lookup.few_groups` reads in one statement; None for any other filter (the
    general path's), and for a view whose filtering is not the default one. A filter that
    does not parse is refused here, as the general path would refuse it."""
    if not view.default_filtering():
        return None
    text = filter_text(params)
    return group_key_lookup(text, connection) if text is not None else None


class GroupQueryView(UserQueryView):
    """A view that lists groups; the ``filter`` goes through the Group filter set."""

    filterset_class = ScimGroupFilterSet
    default_filterset_class = ScimGroupFilterSet


class GroupListView(GroupQueryView):
    resource_name = "Groups"

    def get(self, request: Request) -> Response:
        return list_groups(request, self, connection_of(request))

    def post(self, request: Request) -> Any:
        connection = connection_of(request)
        projection = Projection(request.query_params, GROUP_RESOURCE)
        display_name, external_id, ids = _body(request)
        row = group_writes.create_group(
            connection, display_name, external_id=external_id, members=ids
        )
        row.connection = connection
        return group_response(request, row, projection, status=201)


class GroupSearchView(GroupQueryView, UserSearchView):
    """``POST /Groups/.search`` (RFC 7644 §3.4.3): the SearchRequest read as for Users."""

    resource_name = "Groups/.search"

    def post(self, request: Request) -> Response:
        return list_groups(request, self, connection_of(request))


class GroupDetailView(ScimView):
    resource_name = "Groups/{id}"

    def get(self, request: Request, scim_id: str) -> Any:
        projection = Projection(request.query_params, GROUP_RESOURCE)
        row = get_group(connection_of(request), scim_id)
        header = request.META.get("HTTP_IF_NONE_MATCH")
        if header and etag_matches(header, row.etag):
            return Response(status=304, headers={"ETag": row.etag})
        return group_response(request, row, projection)

    def put(self, request: Request, scim_id: str) -> Any:
        connection = connection_of(request)
        projection = Projection(request.query_params, GROUP_RESOURCE)
        display_name, external_id, ids = _body(request)

        def decide(locked: ExternalGroup) -> group_writes.GroupChange:
            check_if_match(request, locked)
            change = group_writes.GroupChange(display_name, external_id)
            change.members.replaced(ids)
            return change

        row = group_writes.change_group(get_group(connection, scim_id), decide)
        return group_response(request, row, projection)

    def patch(self, request: Request, scim_id: str) -> Any:
        connection = connection_of(request)
        params = request.query_params
        projection = Projection(params, GROUP_RESOURCE)
        change = group_change(request.data)  # checked whole before anything is locked

        def decide(locked: ExternalGroup) -> group_writes.GroupChange:
            check_if_match(request, locked)
            return change

        row = group_writes.change_group(get_group(connection, scim_id), decide)
        if params.get("attributes") or params.get("excludedAttributes"):
            return group_response(request, row, projection, members=False)
        return Response(status=204, headers={"ETag": row.etag})

    def delete(self, request: Request, scim_id: str) -> Response:
        connection = connection_of(request)
        group_writes.delete_group(
            get_group(connection, scim_id), check=lambda locked: check_if_match(request, locked)
        )
        return Response(status=204)
