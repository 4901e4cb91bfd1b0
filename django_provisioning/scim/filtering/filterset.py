"""The SCIM ``filter`` parameter as a django-filter ``FilterSet`` over link rows.

django-filter gives the list view the shape of a filter backend (:mod:`.backend`) that returns a
QuerySet, so connection scoping, ordering and pagination stay in the ORM. The SCIM grammar
itself is ours (:mod:`.parser`, compiled to ``Q`` by :mod:`.compiler`); django-filter carries it.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet

from ...models import Connection, ExternalIdentity
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


def filter_identities(
    queryset: QuerySet[ExternalIdentity], params: Any, connection: Connection
) -> QuerySet[ExternalIdentity]:
    """*queryset* narrowed by the request's SCIM ``filter``; invalidFilter for a non-string.

    Whatever the ``FilterSet`` cannot validate is refused, never dropped: a dropped filter
    would answer with every user of the connection.
    """
    text = params.get("filter")
    if text is not None and not isinstance(text, str):
        raise InvalidFilter("'filter' must be a string.")
    filterset = ScimUserFilterSet({"filter": text or ""}, queryset=queryset, connection=connection)
    if not filterset.is_valid():
        problems = " ".join(str(m) for messages in filterset.errors.values() for m in messages)
        raise InvalidFilter(f"The filter is not valid: {problems}")
    return filterset.qs
