"""The SCIM ``filter`` parameter as a django-filter ``FilterSet`` over link rows.

django-filter gives the list view the shape of a filter backend (:mod:`.backend`) that returns a
QuerySet, so connection scoping, ordering and pagination stay in the ORM. The SCIM grammar
itself is ours (:mod:`.parser`, compiled to ``Q`` by :mod:`.compiler`); django-filter carries it.

A filter is applied or refused, never dropped. django-filter's own contract is lenient: a value
its form field rejects (``CharField`` refuses NUL) or considers empty is left out of
``cleaned_data``, and ``FilterSet.qs`` then returns the *unfiltered* queryset -- for a SCIM
lookup-before-create, every user of the connection. So :func:`filter_identities` checks the
grammar first, refuses a FilterSet that does not validate, and refuses a result the filter
method was not applied to: each of these is ``400 invalidFilter`` (RFC 7644 §3.4.2.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import QuerySet

from ...models import Connection, ExternalGroup, ExternalIdentity
from ..errors import InvalidFilter
from .columns import Resolver
from .compiler import filter_to_q
from .group_columns import GroupResolver
from .parser import parse_filter

FILTER_PARAMETER = "filter"


class ScimUserFilterSet(django_filters.FilterSet):
    """``?filter=...`` (RFC 7644 §3.4.2.2) on a connection's ExternalIdentity queryset."""

    filter = django_filters.CharFilter(method="filter_scim", strip=False)

    class Meta:
        model = ExternalIdentity
        fields: list[str] = []

    def __init__(
        self, *args: Any, connection: Connection, absent: bool = False, **kwargs: Any
    ) -> None:
        self.connection = connection
        self.absent = absent  # attributes the type lacks compare false (a root search)
        self.applied = False  # set by filter_scim: proof the filter reached the queryset
        super().__init__(*args, **kwargs)

    def resolver(self) -> Resolver | None:
        """Where the resource's attributes are stored (None: a User's)."""
        return None

    def filter_scim(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        q = filter_to_q(
            parse_filter(value), self.connection, resolver=self.resolver(), absent=self.absent
        )
        narrowed = queryset.filter(q)
        self.applied = True
        return narrowed


class ScimGroupFilterSet(ScimUserFilterSet):
    """``?filter=...`` on a connection's ExternalGroup queryset (``/Groups``)."""

    class Meta:
        model = ExternalGroup
        fields: list[str] = []

    def resolver(self) -> Resolver | None:
        return GroupResolver(self.connection)


def filter_text(params: Mapping[str, Any]) -> str | None:
    """The request's one ``filter``, or None when it sends none.

    The name is matched case-insensitively (SCIM names are, RFC 7643 §2.1), so a ``Filter``
    filters instead of being ignored; two filters (``?filter=a&filter=b``, or ``filter`` and
    ``Filter`` members) are ambiguous and refused rather than one of them dropped.
    """
    values: list[Any] = []
    for key in params:
        if isinstance(key, str) and key.lower() == FILTER_PARAMETER:
            getlist = getattr(params, "getlist", None)
            values += getlist(key) if getlist is not None else [params[key]]
    values = [v for v in values if v is not None]  # a SearchRequest's "filter": null
    if not values:
        return None
    if len(values) > 1:
        raise InvalidFilter("Send one 'filter' parameter, not several.")
    if not isinstance(values[0], str):
        raise InvalidFilter("'filter' must be a string.")
    return values[0]


def filter_identities(
    queryset: QuerySet[Any],
    params: Mapping[str, Any],
    connection: Connection,
    filterset_class: type[ScimUserFilterSet] | None = None,
    *,
    absent: bool = False,
) -> QuerySet[Any]:
    """*queryset* narrowed by the request's SCIM ``filter``; invalidFilter if it cannot be.

    *filterset_class*: :class:`ScimGroupFilterSet` for a queryset of groups. *absent*: an
    attribute the type does not have compares false (a search across types)."""
    text = filter_text(params)
    if text is None:
        return queryset
    # The grammar first: an empty filter, NUL, a lone surrogate or a syntax error gets the
    # parser's precise message, before django-filter's form layer can set the value aside.
    parse_filter(text)
    filterset = (filterset_class or ScimUserFilterSet)(
        {FILTER_PARAMETER: text}, queryset=queryset, connection=connection, absent=absent
    )
    if not filterset.is_valid():
        messages = [str(m) for errors in filterset.errors.values() for m in errors]
        raise InvalidFilter(" ".join(messages) or "The filter cannot be applied.")
    narrowed = filterset.qs
    if not filterset.applied:
        raise InvalidFilter("The filter cannot be applied.")
    return narrowed
