"""``POST /.search`` at the SCIM root (RFC 7644 §3.4.3): a search across every resource type.

The Users that match come first, then the Groups, as one list that ``startIndex`` and ``count``
page through; ``totalResults`` is the sum. Each type is filtered, sorted and projected by its own
endpoint's code (:func:`.views.list_users`, :func:`.group_views.list_groups`), so the rules are
those of ``/Users/.search`` and ``/Groups/.search``, with two differences for attributes one type
does not have (``userName`` for Groups, ``members`` for Users): in the filter they compare false
for that type (so ``userName eq "a" or displayName eq "G"`` finds the user and the group), and
as ``sortBy`` they leave that type in its default order (``sortBy`` orders within each type).
A filter that names an attribute *no* type has is ``400 invalidFilter``. Cursor pagination
(RFC 9865) is not offered here (``400 invalidValue``): each type's own search offers it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from ..conf import provisioning_settings
from . import errors
from .authentication import connection_of
from .base import parse_int
from .group_views import GroupSearchView, list_groups
from .messages import LIST_RESPONSE_SCHEMA
from .renderers import RenderedJSON
from .views import UserQueryView, UserSearchView, list_users, search_params

Lister = Callable[[Request, Any, Any], Response]
KINDS: tuple[tuple[type[UserQueryView], Lister], ...] = (
    (UserSearchView, list_users),
    (GroupSearchView, list_groups),
)


class RootSearchView(UserQueryView):
    """``POST /.search``: Users, then Groups."""

    resource_name = ".search"

    def post(self, request: Request) -> Response:
        params = dict(search_params(request.data))
        if params.pop("cursor", None) is not None:
            # One cursor would have to span two lists (Users, then Groups): page by index.
            raise errors.InvalidValue(
                "'cursor' is not supported by the root /.search: use 'startIndex', or "
                "/Users/.search and /Groups/.search."
            )
        start = max(parse_int(params.get("startIndex"), "startIndex", 1), 1)
        count = parse_int(params.get("count"), "count", provisioning_settings.SCIM_DEFAULT_COUNT)
        count = min(max(count, 0), provisioning_settings.SCIM_MAX_RESULTS)
        # Strictly first: an attribute no type has is the client's error. A type that lacks
        # one is counted again with it comparing false.
        totals: list[int] = []
        unknown: list[errors.UnknownAttribute] = []
        for view_class, lister in KINDS:
            strict = {**params, "sortBy": None}
            try:
                totals.append(self._page(request, view_class, lister, strict, 1, 0)["totalResults"])
            except errors.UnknownAttribute as exc:
                unknown.append(exc)
                totals.append(
                    self._page(request, view_class, lister, strict, 1, 0, absent=True)[
                        "totalResults"
                    ]
                )
        if len(unknown) == len(KINDS):
            raise unknown[0]
        resources: list[Any] = []
        offset = start - 1  # into the concatenation
        for (view_class, lister), total in zip(KINDS, totals, strict=True):
            wanted = count - len(resources)
            if wanted > 0 and offset < total:
                page = self._page(
                    request, view_class, lister, params, offset + 1, wanted, absent=True
                )
                resources += page["Resources"]
            offset = max(0, offset - total)
        return Response(
            {
                "schemas": [LIST_RESPONSE_SCHEMA],
                "totalResults": sum(totals),
                "itemsPerPage": len(resources),
                "startIndex": start,
                "Resources": resources,
            }
        )

    def _page(
        self,
        request: Request,
        view_class: type[UserQueryView],
        lister: Lister,
        params: Mapping[str, Any],
        start: int,
        count: int,
        *,
        absent: bool = False,
    ) -> dict[str, Any]:
        """One type's ListResponse for the search's parameters, at *start* / *count*."""
        view = view_class()
        view.request = request
        view.format_kwarg = None
        view.absent_attributes_compare_false = absent  # type: ignore[attr-defined]
        view._search_params = {**params, "startIndex": start, "count": count}  # type: ignore[attr-defined]
        try:
            response = lister(request, view, connection_of(request))
        except errors.UnknownAttribute:
            if not (absent and params.get("sortBy")):
                raise
            # sortBy names an attribute this type does not have: its default order.
            view._search_params = {**view._search_params, "sortBy": None}  # type: ignore[attr-defined]
            response = lister(request, view, connection_of(request))
        data = response.data
        if isinstance(data, RenderedJSON):
            return dict(json.loads(data.content))
        return dict(data)
