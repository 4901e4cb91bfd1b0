"""SCIM protocol errors (RFC 7644 §3.12): one exception type, rendered by one handler.

:func:`from_core` is the one place where the core's errors
(:mod:`django_provisioning.exceptions`) become SCIM errors with their status and ``scimType``.
"""

from __future__ import annotations

from typing import Any

from .. import exceptions

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MAX_DETAIL_LENGTH = 1000


class ScimError(Exception):
    """An error with an HTTP status and an optional ``scimType`` (RFC 7644 §3.12, table 9)."""

    status: int = 400
    scim_type: str | None = None
    default_detail: str = "Bad request."
    #: Seconds for the ``Retry-After`` header of a retryable answer (429, 503), or None.
    retry_after: int | None = None

    def __init__(
        self, detail: str | None = None, *, scim_type: str | None = None, status: int | None = None
    ) -> None:
        self.detail = detail or self.default_detail
        if len(self.detail) > MAX_DETAIL_LENGTH:
            # Details quote the client's input (ids, filter tokens): never echo it at length.
            self.detail = self.detail[: MAX_DETAIL_LENGTH - 1] + "…"
        if scim_type is not None:
            self.scim_type = scim_type
        if status is not None:
            self.status = status
        super().__init__(self.detail)

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"
    default_detail = "The filter syntax is invalid or the attribute cannot be filtered."


class UnknownAttribute(InvalidFilter):
    """A filter or ``sortBy`` names an attribute (or schema) the resource type does not have."""


class TooMany(ScimError):
    """A request asks for more work than the service allows (``SCIM_PATCH_MAX_WORK``)."""

    scim_type = "tooMany"
    default_detail = "The request asks for too much work."


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"
    default_detail = "A resource with this unique attribute already exists."


class Conflict(ScimError):
    """409 without a ``scimType``: a Bulk operation whose ``bulkId`` reference cannot be met."""

    status = 409
    default_detail = "The request conflicts with the state of the server."


class Mutability(ScimError):
    scim_type = "mutability"
    default_detail = "The attribute cannot be modified."


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"
    default_detail = "The request body is not a valid SCIM message."


class InvalidPath(ScimError):
    scim_type = "invalidPath"
    default_detail = "The path attribute is invalid or malformed."


class NoTarget(ScimError):
    scim_type = "noTarget"
    default_detail = "The path did not yield an attribute or value that could be operated on."


class InvalidValue(ScimError):
    scim_type = "invalidValue"
    default_detail = "A required value is missing or a value is not compatible."


class InvalidCursor(ScimError):
    """A ``cursor`` this server did not issue for this list (RFC 9865 §3.2)."""

    scim_type = "invalidCursor"
    default_detail = (
        "The cursor is invalid: send an empty cursor for the first page, then the "
        "nextCursor of the previous page."
    )


class ExpiredCursor(ScimError):
    """A ``cursor`` older than ``SCIM_CURSOR_TIMEOUT`` (RFC 9865 §3.2)."""

    scim_type = "expiredCursor"
    default_detail = "The cursor has expired: start again with an empty cursor."


class NotAuthenticated(ScimError):
    status = 401
    default_detail = "Authentication credentials were not provided or are invalid."


class PermissionDenied(ScimError):
    status = 403
    default_detail = "This token may not perform this operation."


class NotFound(ScimError):
    status = 404
    default_detail = "Resource not found."


class MethodNotAllowed(ScimError):
    status = 405
    default_detail = "Method not allowed."


class PreconditionFailed(ScimError):
    status = 412
    default_detail = "The resource has changed (If-Match did not match)."


class PayloadTooLarge(ScimError):
    status = 413
    default_detail = "The request body is too large."


class UnsupportedMediaType(ScimError):
    status = 415
    default_detail = "Send application/scim+json or application/json."


class TooManyRequests(ScimError):
    """Too many failed authentications from this client address (RFC 6585 §4)."""

    status = 429
    default_detail = "Too many failed authentications from this address. Retry later."

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class NotImplementedYet(ScimError):
    status = 501
    default_detail = "This operation is not supported by this service provider."


class ServiceUnavailable(ScimError):
    """The database is locked, unreachable or kept failing: retryable (with ``Retry-After``)."""

    status = 503
    default_detail = "The service is temporarily unavailable. Please try again later."


class InternalError(ScimError):
    status = 500
    default_detail = "The service provider failed to process the request."


#: Core error class -> SCIM error class; the first class in the exception's MRO that is listed.
_FROM_CORE: dict[type[exceptions.ProvisioningError], type[ScimError]] = {
    exceptions.Conflict: Uniqueness,
    exceptions.InvalidData: InvalidValue,
    exceptions.Gone: NotFound,
    exceptions.ProvisioningDenied: PermissionDenied,
    exceptions.InvalidSyntax: InvalidSyntax,
    exceptions.InvalidValue: InvalidValue,
    exceptions.ImmutableAttribute: Mutability,
    exceptions.InvalidPath: InvalidPath,
    exceptions.ProvisioningError: ScimError,
}


def from_core(exc: exceptions.ProvisioningError) -> ScimError:
    """The SCIM error for a core error: its status and ``scimType``, the core's message."""
    kind = next(k for k in type(exc).__mro__ if k in _FROM_CORE)
    return _FROM_CORE[kind](str(exc) or None)
