"""The ``/Users`` endpoints (RFC 7644 §3.3 to §3.6) and searches (§3.4.2, §3.4.3).

Views are thin: they parse the protocol (filter, paging, PATCH, ETags), call the provisioning
core for every write, and render link rows with :mod:`.rendering`. ``/Bulk`` (§3.7) is
:mod:`.bulk`; ``/Me`` (§3.11) is answered 501.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from rest_framework.filters import BaseFilterBackend
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from .. import counters, provisioning
from ..adapter import DefaultAdapter, get_adapter
from ..compiled import CompiledQuery, Slot, first
from ..models import Connection, ExternalGroup, ExternalIdentity
from ..schema.definitions import USER_RESOURCE
from ..schema.document import canonicalize, check_immutable
from . import errors
from .authentication import connection_of
from .base import ScimView
from .cursors import read_window
from .filtering.backend import ScimFilterBackend
from .filtering.compiler import order_by_for
from .filtering.filterset import filter_text
from .lookup import Key, few_matches, key_lookup
from .messages import SEARCH_REQUEST_SCHEMA
from .paging import list_page, matches_page, sort_matches
from .patch import apply_patch
from .rendering import Projection, load_groups, render_user, user_location


def identity_queryset(connection: Connection) -> Any:
    return get_adapter().get_identity_queryset(connection).filter(deleted_at=None)


#: :func:`get_identity`'s query when the adapter keeps the default ``get_identity_queryset``
#: (compiled once: :mod:`django_provisioning.compiled`).
IDENTITY_BY_SCIM_ID = CompiledQuery(
    ExternalIdentity,
    lambda connection_id, scim_id: (
        ExternalIdentity.objects.filter(
            connection_id=connection_id, deleted_at=None, scim_id=scim_id
        )
        .select_related("user")
        .order_by("pk")[:1]
    ),
    Slot.of(ExternalIdentity, "connection"),
    Slot.of(ExternalIdentity, "scim_id"),
)
#: A list page of one row, read by the key its filter found (an IdP's lookup by userName,
#: externalId or e-mail is read apart, in one statement: :mod:`.lookup`).
IDENTITY_BY_KEY = CompiledQuery(
    ExternalIdentity,
    lambda connection_id, pk: ExternalIdentity.objects.filter(
        connection_id=connection_id, deleted_at=None, pk=pk
    ).select_related("user")[:1],
    Slot.of(ExternalIdentity, "connection"),
    Slot.of(ExternalIdentity, "id"),
)


def default_identities() -> bool:
    """True when the adapter keeps the default ``get_identity_queryset`` (no narrower scope),
    so that the compiled queries above may stand for it."""
    return type(get_adapter()).get_identity_queryset is DefaultAdapter.get_identity_queryset


def get_identity(connection: Connection, scim_id: str) -> Any:
    """The connection's link row *scim_id* (unlocked: writes lock it again in the core)."""
    try:
        key = uuid.UUID(str(scim_id))
    except ValueError:
        raise errors.NotFound(f"User {str(scim_id)[:64]} not found.") from None
    if default_identities():
        identity = first(IDENTITY_BY_SCIM_ID.run(connection.pk, key))
    else:
        identity = identity_queryset(connection).filter(scim_id=key).first()
    if identity is None:
        raise errors.NotFound(f"User {scim_id} not found.")
    identity.connection = connection  # already loaded: spare a query per use
    return identity


def etag_matches(header: str, etag: str) -> bool:
    """RFC 7232 weak comparison of an If-Match / If-None-Match list against *etag*."""
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def check_if_match(request: Request, resource: ExternalIdentity | ExternalGroup) -> None:
    """``If-Match`` against the locked row of a user or a group: 412 when it differs."""
    header = request.META.get("HTTP_IF_MATCH")
    if header and not etag_matches(header, resource.etag):
        raise errors.PreconditionFailed(
            f"The resource is at version {resource.etag}, not {header}."
        )


def user_response(
    request: Request,
    identity: ExternalIdentity,
    status: int = 200,
    projection: Projection | None = None,
    document: dict[str, Any] | None = None,
) -> Response:
    """One user; writes pass the *projection* they parsed before writing (a bad
    ``attributes`` must refuse the request, not answer 400 after the commit), and the
    *document* the core wrote (not rendered again)."""
    groups = load_groups(identity.connection, [identity]).get(identity.user_id)
    if projection is None:
        projection = Projection(request.query_params)
    body = projection(render_user(request, identity, groups, document))
    headers = {"ETag": identity.etag}
    if status == 201:
        headers["Location"] = user_location(request, identity)
    return Response(body, status=status, headers=headers)


def unfiltered_total(connection: Connection, params: Mapping[str, Any], field: str) -> int | None:
    """``totalResults`` of an unfiltered list from the connection's counter (one indexed row),
    or None: a filter, or an adapter that scopes the users a connection sees, is counted."""
    if any(str(key).lower() == "filter" and params[key] for key in params):
        return None  # the parameter's name is case-insensitive (RFC 7644 §3.4.2)
    if field == counters.USERS and not default_identities():
        return None
    row = counters.totals(connection)
    return None if row is None else int(getattr(row, field))


def list_users(request: Request, view: UserQueryView, connection: Connection) -> Response:
    """A ListResponse page (RFC 7644 §3.4.2): filter, sort, paginate, project."""
    params = view.list_params(request)
    # The filter first, so that its errors come before those of sorting and paging. An
    # IdP's lookup (userName, externalId or e-mail eq) is parsed here and read further down.
    key = lookup_key(view, params, connection)
    qs = view.filter_queryset(identity_queryset(connection)) if key is None else None
    sort_by = params.get("sortBy")
    sort_order = str(params.get("sortOrder") or "ascending").lower()
    if sort_order not in ("ascending", "descending"):
        raise errors.InvalidValue("'sortOrder' must be 'ascending' or 'descending'.")
    if sort_by is not None and not isinstance(sort_by, str):
        raise errors.InvalidValue("'sortBy' must be an attribute path.")
    # Without sortBy: creation order, with the pk as tiebreaker, so pages are stable.
    # sortOrder without sortBy has nothing to order by (RFC 7644 §3.4.2.3): ignored.
    descending = bool(sort_by) and sort_order == "descending"
    order = order_by_for(sort_by or None, connection, descending=descending)
    window = read_window(params, connection, "User", sort_by=sort_by)
    projection = Projection(params)

    def render(identity: ExternalIdentity, groups: list[dict[str, Any]] | None) -> dict[str, Any]:
        return projection(render_user(request, identity, groups))

    total = unfiltered_total(connection, params, counters.USERS)
    if key is not None and total is None and not window.cursor:
        matches = few_matches(connection, key)
        if matches is not None:  # an IdP's lookup (userName, externalId, e-mail): one statement
            return Response(matches_page(matches, connection, window=window, render=render))
    if qs is None:
        qs = view.filter_queryset(identity_queryset(connection))
    ordered = qs.order_by(*order)
    if total is None:
        total = qs.count()
        ordered = sort_matches(ordered, total)
    page = list_page(
        ordered,
        connection,
        total=total,
        window=window,
        render=render,
        by_key=(
            (lambda pk: IDENTITY_BY_KEY.run(connection.pk, pk)) if default_identities() else None
        ),
    )
    return Response(page)  # cut short at SCIM_MAX_RESPONSE_BYTES; itemsPerPage says so


def lookup_key(
    view: UserQueryView, params: Mapping[str, Any], connection: Connection
) -> Key | None:
    """The lookup of a ``userName eq``, ``externalId eq`` or ``emails.value eq`` filter (and
    the other value index columns), whose matches :func:`.lookup.few_matches` reads in one
    statement; None for any other filter (the general path's), and for a view whose
    filtering or an adapter whose scope is not the default one. A filter that does not parse
    is refused here, as the general path would refuse it."""
    if not (view.default_filtering() and default_identities()):
        return None
    text = filter_text(params)
    return key_lookup(text, connection) if text is not None else None


def search_params(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise errors.InvalidSyntax("A SearchRequest must be a JSON object.")
    schemas = data.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or SEARCH_REQUEST_SCHEMA not in schemas
    ):
        raise errors.InvalidSyntax(f"'schemas' must be [\"{SEARCH_REQUEST_SCHEMA}\"].")
    params = {k: data.get(k) for k in ("sortBy", "sortOrder", "startIndex", "count", "cursor")}
    # Every spelling of "filter" (names are case-insensitive): filter_text applies the one
    # there is and refuses two, rather than drop one.
    params.update({k: v for k, v in data.items() if isinstance(k, str) and k.lower() == "filter"})
    for key in ("attributes", "excludedAttributes"):
        value = data.get(key)
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise errors.InvalidValue(f"'{key}' must be a list of attribute paths.")
            value = ",".join(value)
        params[key] = value
    return params


class UserQueryView(ScimView):
    """A view that lists users; the ``filter`` goes through its ``filter_backends``."""

    filter_backends: list[type[BaseFilterBackend]] = [ScimFilterBackend]
    #: The ``filterset_class`` of the default filtering (None: the backend's own, for Users).
    default_filterset_class: type[Any] | None = None

    def list_params(self, request: Request) -> Mapping[str, Any]:
        """The list parameters (``filter``, ``sortBy``, paging, ``attributes``): the query."""
        return request.query_params

    def filter_queryset(self, queryset: QuerySet[ExternalIdentity]) -> QuerySet[ExternalIdentity]:
        """*queryset* narrowed by every filter backend, as DRF's generic views do."""
        for backend in self.filter_backends:
            queryset = backend().filter_queryset(self.request, queryset, self)
        return queryset

    def default_filtering(self) -> bool:
        """True when the ``filter`` alone narrows the list, as :class:`ScimFilterBackend`
        does it with :attr:`default_filterset_class` (a subclass with other backends,
        another ``filterset_class`` or its own ``filter_queryset`` is not)."""
        return (
            list(self.filter_backends) == [ScimFilterBackend]
            and getattr(self, "filterset_class", None) is self.default_filterset_class
            and type(self).filter_queryset is UserQueryView.filter_queryset
        )


class UserListView(UserQueryView):
    resource_name = "Users"

    def get(self, request: Request) -> Response:
        return list_users(request, self, connection_of(request))

    def post(self, request: Request) -> Response:
        connection = connection_of(request)
        projection = Projection(request.query_params)
        document, password = canonicalize(request.data, USER_RESOURCE)
        written = provisioning.create_user_written(connection, document, password=password)
        return user_response(
            request, written.identity, status=201, projection=projection, document=written.document
        )


class UserSearchView(UserQueryView):
    """``POST /Users/.search`` and ``POST /.search`` (RFC 7644 §3.4.3)."""

    resource_name = "Users/.search"

    def list_params(self, request: Request) -> Mapping[str, Any]:
        """The SearchRequest body's parameters (parsed once per request)."""
        if not hasattr(self, "_search_params"):
            self._search_params = search_params(request.data)
        return self._search_params

    def post(self, request: Request) -> Response:
        return list_users(request, self, connection_of(request))


class UserDetailView(ScimView):
    resource_name = "Users/{id}"

    def get(self, request: Request, scim_id: str) -> Response:
        identity = get_identity(connection_of(request), scim_id)
        header = request.META.get("HTTP_IF_NONE_MATCH")
        if header and etag_matches(header, identity.etag):
            return Response(status=304, headers={"ETag": identity.etag})
        return user_response(request, identity)

    def put(self, request: Request, scim_id: str) -> Response:
        connection = connection_of(request)
        projection = Projection(request.query_params)
        document, password = canonicalize(request.data, USER_RESOURCE)

        def change(
            locked: ExternalIdentity, current: dict[str, Any]
        ) -> tuple[dict[str, Any], str | None]:
            check_if_match(request, locked)
            check_immutable(USER_RESOURCE, current, document)
            return document, password

        written = provisioning.update_user(get_identity(connection, scim_id), change)
        return user_response(
            request, written.identity, projection=projection, document=written.document
        )

    def patch(self, request: Request, scim_id: str) -> Response:
        connection = connection_of(request)
        projection = Projection(request.query_params)

        def change(
            locked: ExternalIdentity, current: dict[str, Any]
        ) -> tuple[dict[str, Any], str | None]:
            # On the locked row: the operations apply to what is stored now (*current*, the
            # core's rendering of it), not to what a concurrent request has since replaced.
            check_if_match(request, locked)
            patched, password = apply_patch(current, request.data, USER_RESOURCE)
            document, _pw = canonicalize(
                {**patched, "schemas": [USER_RESOURCE.schema.id]}, USER_RESOURCE
            )
            check_immutable(USER_RESOURCE, current, document)
            return document, password

        written = provisioning.update_user(get_identity(connection, scim_id), change)
        return user_response(
            request, written.identity, projection=projection, document=written.document
        )

    def delete(self, request: Request, scim_id: str) -> Response:
        connection = connection_of(request)
        provisioning.delete_user(
            get_identity(connection, scim_id), check=lambda locked: check_if_match(request, locked)
        )
        return Response(status=204)


class NotImplementedView(ScimView):
    """``/Me``: not supported; answered 501 (RFC 7644 §3.11)."""

    resource_name = "unsupported"

    def _501(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise errors.NotImplementedYet()

    get = post = put = patch = delete = _501


class NotFoundView(ScimView):
    """Any other path under the SCIM prefix: a SCIM 404 body, not Django's HTML page."""

    permission_classes = [AllowAny]
    resource_name = "unknown"

    def _404(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise errors.NotFound("No such SCIM endpoint.")

    get = post = put = patch = delete = _404
