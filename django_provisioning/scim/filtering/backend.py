"""The DRF filter backend of the SCIM list views (their ``filter_backends``).

It narrows the view's queryset of link rows by the request's ``filter`` through the
django-filter ``FilterSet`` of :mod:`.filterset`; invalid input is ``400 invalidFilter``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from ..authentication import connection_of
from .filterset import filter_identities


class ScimFilterBackend(BaseFilterBackend):
    """DRF filter backend: the request's SCIM ``filter`` through :class:`ScimUserFilterSet`.

    The parameters come from ``view.list_params(request)`` when the view has it (``.search``
    sends them in the body), else from the query string; the view's ``filterset_class``
    (:class:`~.filterset.ScimGroupFilterSet` for ``/Groups``) when it names one.
    """

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any, Any], view: Any
    ) -> QuerySet[Any, Any]:
        list_params = getattr(view, "list_params", None)
        params = list_params(request) if list_params else request.query_params
        filterset_class = getattr(view, "filterset_class", None)
        absent = bool(getattr(view, "absent_attributes_compare_false", False))
        return filter_identities(
            queryset, params, connection_of(request), filterset_class, absent=absent
        )
