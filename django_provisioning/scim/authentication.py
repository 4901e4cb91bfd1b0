"""Bearer-token authentication for the SCIM endpoints (RFC 7644 §2, RFC 6750)."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from ..models import Connection, ScimToken
from ..tokens import check_token, record_use
from .errors import NotAuthenticated


class ScimClientUser:
    """The "user" of a SCIM request: the identity provider acting for one connection."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def __str__(self) -> str:
        return f"SCIM client of {self.connection.slug}"


class AuthenticationRefused(NotAuthenticated):
    """A 401 that knows why (for the audit trail and the throttle, never for the client)."""

    def __init__(self, detail: str, *, reason: str, token: ScimToken | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        #: The token row when the presented token is ours but unusable (revoked, expired...).
        self.token = token


class BearerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``; the token picks the connection."""

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[ScimClientUser, ScimToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _sep, raw = header.partition(" ")
        if scheme.lower() != self.keyword or not raw.strip():
            raise AuthenticationRefused(
                "Use 'Authorization: Bearer <token>'.", reason="malformed_header"
            )
        token, reason = check_token(raw.strip())
        if token is None or reason:
            raise AuthenticationRefused(
                "The bearer token is invalid, expired or revoked.", reason=reason, token=token
            )
        record_use(token)
        return ScimClientUser(token.connection), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="SCIM"'


def connection_of(request: Any) -> Connection:
    user = getattr(request, "user", None)
    if not isinstance(user, ScimClientUser):
        raise NotAuthenticated()
    return user.connection
