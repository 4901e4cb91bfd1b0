"""``application/scim+json`` in and out (RFC 7644 §3.1); plain ``application/json`` accepted."""

from __future__ import annotations

from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

SCIM_MEDIA_TYPE = "application/scim+json"


class ScimJSONRenderer(JSONRenderer):
    media_type = SCIM_MEDIA_TYPE
    charset = None  # RFC 7644 uses UTF-8 JSON without a charset parameter.


class PlainJSONRenderer(JSONRenderer):
    charset = None


class ScimJSONParser(JSONParser):
    media_type = SCIM_MEDIA_TYPE


class PlainJSONParser(JSONParser):
    media_type = "application/json"
