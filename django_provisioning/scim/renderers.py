"""``application/scim+json`` in and out (RFC 7644 §3.1); plain ``application/json`` accepted."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

SCIM_MEDIA_TYPE = "application/scim+json"


class RenderedJSON:
    """A body serialized already (a list page measured while it was built): sent as is."""

    def __init__(self, content: bytes) -> None:
        self.content = content


def to_json(data: Any) -> bytes:
    """*data* serialized exactly as the SCIM renderers serialize a response body."""
    return bytes(_SafeJSONRenderer().render(data))


class _SafeJSONRenderer(JSONRenderer):
    """DRF's JSON renderer, falling back to ``\\uXXXX`` escapes for text UTF-8 cannot carry.

    An error ``detail`` may quote the client's input, and a lone surrogate in it (sent as
    ``"\\ud800"``) cannot be encoded as UTF-8: escaped, it is still valid JSON.
    """

    charset = None

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> Any:
        if isinstance(data, RenderedJSON):
            return data.content
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _AsciiJSONRenderer().render(data, accepted_media_type, renderer_context)


class _AsciiJSONRenderer(JSONRenderer):
    ensure_ascii = True
    charset = None


class ScimJSONRenderer(_SafeJSONRenderer):
    media_type = SCIM_MEDIA_TYPE
    charset = None  # RFC 7644 uses UTF-8 JSON without a charset parameter.


class PlainJSONRenderer(_SafeJSONRenderer):
    charset = None


class _DepthSafeJSONParser(JSONParser):
    """DRF's JSON parser, with too deeply nested JSON a parse error rather than a 500.

    The standard library's decoder recurses once per nesting level and raises RecursionError
    (not ValueError) past the interpreter's limit: ``[[[[...]]]]`` 10 000 levels deep fits in
    a few kilobytes.
    """

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class ScimJSONParser(_DepthSafeJSONParser):
    media_type = SCIM_MEDIA_TYPE


class PlainJSONParser(_DepthSafeJSONParser):
    media_type = "application/json"
