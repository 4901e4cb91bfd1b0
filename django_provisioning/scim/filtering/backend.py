"""The SCIM ``filter`` parameter as a DRF filter backend over a django-filter ``FilterSet``.

The list views name :class:`ScimFilterBackend` in their ``filter_backends``, so the filter
narrows a queryset of link rows and connection scoping, ordering and pagination stay in the
ORM. The SCIM grammar itself is ours (:mod:`.parser`, compiled to ``Q`` by :mod:`.compiler`);
the ``FilterSet`` carries it. Whatever the ``FilterSet`` cannot validate is refused with
``invalidFilter`` (400), never dropped: a dropped filter would answer with every user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from ...models import Connection, ExternalIdentity
from ..authentication import connection_of
from ..errors import InvalidFilter
from .compiler import filter_to_q
from .parser import parse_filter


class ScimUserFilterSet(django_filters.FilterSet):
    """``?filter=...`` (RFC 7644 §3.4.2.2) on a connection's ExternalIdentity queryset."""

    filter = django_filters.CharFilter(method="filter_scim", strip=False)

    class Meta:
        model = ExternalIdentity
        fields: list[str] = []

    def __init__(self, *args: Any, connection: Connection, **kwargs: Any) -> None:
        self.connection = connection
        super().__init__(*args, **kwargs)

    def filter_scim(
        self, queryset: QuerySet[ExternalIdentity], name: str, value: str
    ) -> QuerySet[ExternalIdentity]:
        return queryset.filter(filter_to_q(parse_filter(value), self.connection))


class ScimFilterBackend(BaseFilterBackend):
    """DRF filter backend: the request's SCIM ``filter`` through :class:`ScimUserFilterSet`.

    The parameters come from ``view.list_params(request)`` when the view has it (``.search``
    sends them in the body), else from the query string.
    """

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any, Any], view: Any
    ) -> QuerySet[Any, Any]:
        list_params = getattr(view, "list_params", None)
        params: Mapping[str, Any] = list_params(request) if list_params else request.query_params
        text = params.get("filter")
        if text is not None and not isinstance(text, str):
            raise InvalidFilter("'filter' must be a string.")
        filterset = ScimUserFilterSet(
            {"filter": text or ""}, queryset=queryset, connection=connection_of(request)
        )
        if not filterset.is_valid():
            problems = " ".join(
                str(message) for messages in filterset.errors.values() for message in messages
            )
            raise InvalidFilter(f"The filter is not valid: {problems}")
        return filterset.qs
