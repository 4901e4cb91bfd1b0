"""``POST /.search`` at the SCIM root (RFC 7644 §3.4.3): a search across every resource type.

The Users that match come first, then the Groups, as one list that ``startIndex`` and ``count``
page through; ``totalResults`` is the sum. Each type is filtered, sorted and projected by its own
endpoint's code (:func:`.views.list_users`, :func:`.group_views.list_groups`), so the rules are
those of ``/Users/.search`` and ``/Groups/.search``. A filter that names an attribute one type
does not have (``userName`` for Groups, ``members`` for Users) matches nothing of that type
rather than failing the search; a filter neither type understands is ``400 invalidFilter``.
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


class RootSearchView(UserQueryView):
    """``POST /.search``: Users, then Groups."""

    resource_name = ".search"

    def post(self, request: Request) -> Response:
        params = search_params(request.data)
        start = max(parse_int(params.get("startIndex"), "startIndex", 1), 1)
        count = parse_int(params.get("count"), "count", provisioning_settings.SCIM_DEFAULT_COUNT)
        count = min(max(count, 0), provisioning_settings.SCIM_MAX_RESULTS)
        kinds: list[tuple[type[UserQueryView], Lister]] = [
            (UserSearchView, list_users),
            (GroupSearchView, list_groups),
        ]
        totals: list[int] = []
        refusals: list[errors.InvalidFilter] = []
        for view_class, lister in kinds:
            try:
                totals.append(self._page(request, view_class, lister, params, 1, 0)["totalResults"])
            except errors.InvalidFilter as exc:
                totals.append(0)  # an attribute this type lacks: nothing of it matches
                refusals.append(exc)
        if len(refusals) == len(kinds):
            raise refusals[0]
        resources: list[Any] = []
        offset = start - 1  # into the concatenation
        for (view_class, lister), total in zip(kinds, totals, strict=True):
            wanted = count - len(resources)
            if wanted > 0 and offset < total:
                page = self._page(request, view_class, lister, params, offset + 1, wanted)
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
    ) -> dict[str, Any]:
        """One type's ListResponse for the search's parameters, at *start* / *count*."""
        view = view_class()
        view.request = request
        view.format_kwarg = None
        view._search_params = {**params, "startIndex": start, "count": count}  # type: ignore[attr-defined]
        response = lister(request, view, connection_of(request))
        data = response.data
        if isinstance(data, RenderedJSON):
            return dict(json.loads(data.content))
        return dict(data)
