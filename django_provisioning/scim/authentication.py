"""Bearer-token authentication for the SCIM endpoints (RFC 7644 §2, RFC 6750)."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from ..models import Connection, ScimToken
from ..tokens import authenticate_token
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


class BearerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``; the token picks the connection."""

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[ScimClientUser, ScimToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _sep, raw = header.partition(" ")
        if scheme.lower() != self.keyword or not raw.strip():
            raise NotAuthenticated("Use 'Authorization: Bearer <token>'.")
        token = authenticate_token(raw.strip())
        if token is None:
            raise NotAuthenticated("The bearer token is invalid, expired or revoked.")
        return ScimClientUser(token.connection), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="SCIM"'


def connection_of(request: Any) -> Connection:
    user = getattr(request, "user", None)
    if not isinstance(user, ScimClientUser):
        raise NotAuthenticated()
    return user.connection
