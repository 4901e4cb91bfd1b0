"""Discovery endpoints (RFC 7644 §4): generated from the schema data that drives validation.

``/ServiceProviderConfig`` states only what this server does: PATCH, filtering, sorting,
ETags, Bulk and both pagination methods (index and cursor, RFC 9865) are supported;
changePassword-by-/Me is not. The endpoints answer without a
token (they describe the protocol, not a customer's data), but a token that is sent must be
valid.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from ..conf import provisioning_settings
from ..schema.definitions import RESOURCE_TYPES, iter_schemas
from . import errors
from .base import ScimView
from .messages import LIST_RESPONSE_SCHEMA, SPC_SCHEMA
from .rendering import base_url

DOCS_URL = "https://django-provisioning.readthedocs.io/en/latest/scim.html"


def _list(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": len(resources),
        "itemsPerPage": len(resources),
        "startIndex": 1,
        "Resources": resources,
    }


class DiscoveryView(ScimView):
    permission_classes = [AllowAny]


class ServiceProviderConfigView(DiscoveryView):
    resource_name = "ServiceProviderConfig"

    def get(self, request: Request) -> Response:
        return Response(
            {
                "schemas": [SPC_SCHEMA],
                "documentationUri": DOCS_URL,
                "patch": {"supported": True},
                "bulk": {
                    "supported": True,
                    "maxOperations": provisioning_settings.SCIM_BULK_MAX_OPERATIONS,
                    "maxPayloadSize": provisioning_settings.SCIM_MAX_PAYLOAD_SIZE,
                },
                "filter": {
                    "supported": True,
                    "maxResults": provisioning_settings.SCIM_MAX_RESULTS,
                },
                # RFC 9865 §4: both pagination methods; index is the default (RFC 7644).
                "pagination": {
                    "cursor": True,
                    "index": True,
                    "defaultPaginationMethod": "index",
                    "defaultPageSize": provisioning_settings.SCIM_DEFAULT_COUNT,
                    "maxPageSize": provisioning_settings.SCIM_MAX_RESULTS,
                    "cursorTimeout": provisioning_settings.SCIM_CURSOR_TIMEOUT,
                },
                "changePassword": {"supported": True},
                "sort": {"supported": True},
                "etag": {"supported": True},
                "authenticationSchemes": [
                    {
                        "type": "oauthbearertoken",
                        "name": "OAuth Bearer Token",
                        "description": "A per-connection bearer token issued by the service "
                        "provider (Authorization: Bearer <token>).",
                        "specUri": "https://www.rfc-editor.org/info/rfc6750",
                        "primary": True,
                    }
                ],
                "meta": {
                    "resourceType": "ServiceProviderConfig",
                    "location": f"{base_url(request)}ServiceProviderConfig",
                },
            }
        )


class ResourceTypesView(DiscoveryView):
    resource_name = "ResourceTypes"

    def get(self, request: Request, name: str | None = None) -> Response:
        root = base_url(request)
        if name is None:
            return Response(
                _list(
                    [rt.as_dict(f"{root}ResourceTypes/{rt.name}") for rt in RESOURCE_TYPES.values()]
                )
            )
        for rt in RESOURCE_TYPES.values():
            if rt.name.lower() == name.lower():
                return Response(rt.as_dict(f"{root}ResourceTypes/{rt.name}"))
        raise errors.NotFound(f"Resource type {name} not found.")


class SchemasView(DiscoveryView):
    resource_name = "Schemas"

    def get(self, request: Request, urn: str | None = None) -> Response:
        root = base_url(request)
        schemas = iter_schemas(RESOURCE_TYPES.values())
        if urn is None:
            return Response(_list([s.as_dict(f"{root}Schemas/{s.id}") for s in schemas]))
        for schema in schemas:
            if schema.id.lower() == urn.lower():
                return Response(schema.as_dict(f"{root}Schemas/{schema.id}"))
        raise errors.NotFound(f"Schema {urn} not found.")
