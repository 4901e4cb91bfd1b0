"""The base SCIM view: authentication, content types, limits, errors and request logging.

Every error under the SCIM prefix leaves as an RFC 7644 §3.12 body with
``application/scim+json``; unexpected exceptions become a bare 500 body (the traceback goes to
the log, never to the client). A database that is locked, unreachable or kept deadlocking after
the core's retries is a ``503`` with ``Retry-After`` (``RETRY_AFTER``): identity providers retry
those.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NoReturn

from django.core.exceptions import DisallowedHost, RequestDataTooBig, SuspiciousOperation
from django.db import transaction
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..conf import provisioning_settings
from ..db import is_retryable, is_unavailable
from ..exceptions import ProvisioningError
from . import errors, recent, throttling
from .authentication import BearerTokenAuthentication, ScimClientUser
from .renderers import PlainJSONParser, PlainJSONRenderer, ScimJSONParser, ScimJSONRenderer

logger = logging.getLogger("django_provisioning.scim")


class LenientNegotiation(DefaultContentNegotiation):
    """Answer ``application/scim+json`` even when the Accept header names something else.

    Identity providers send all kinds of Accept headers; a SCIM body is the only thing we
    serve, and a 406 would break provisioning for no benefit.
    """

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        # DRF parses the Accept header on every request; an IdP sends the same one every
        # time, so the choice is kept per (renderers, Accept, format), at most _CHOSEN_MAX.
        override = self.settings.URL_FORMAT_OVERRIDE
        key = (
            tuple(type(renderer) for renderer in renderers),
            request.META.get("HTTP_ACCEPT", "*/*"),
            format_suffix or (request.query_params.get(override) if override else None),
        )
        chosen = _CHOSEN.get(key)
        if chosen is None:
            renderer, media_type = self._select(request, renderers, format_suffix)
            chosen = (renderers.index(renderer), media_type)
            if len(_CHOSEN) >= _CHOSEN_MAX:
                _CHOSEN.clear()  # the headers are the clients': keep the dict bounded
            _CHOSEN[key] = chosen
        return renderers[chosen[0]], chosen[1]

    def _select(self, request: Any, renderers: Any, format_suffix: Any) -> Any:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except (drf_exceptions.NotAcceptable, Http404):
            # Http404: DRF's ``?format=`` override named no renderer; SCIM has no such
            # parameter, so it is ignored like any unknown one.
            return renderers[0], renderers[0].media_type


#: (renderer classes, Accept header, format) -> (index of the renderer, media type).
_CHOSEN: dict[tuple[Any, ...], tuple[int, str]] = {}
_CHOSEN_MAX = 256


def error_response(exc: errors.ScimError) -> Response:
    response = Response(exc.as_body(), status=exc.status)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="SCIM"'
    retry_after = exc.retry_after
    if retry_after is None and exc.status == 503:
        retry_after = provisioning_settings.RETRY_AFTER
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def to_scim_error(exc: Exception) -> errors.ScimError:
    """Translate any exception raised while serving a SCIM request."""
    if isinstance(exc, errors.ScimError):
        return exc
    if isinstance(exc, ProvisioningError):
        return errors.from_core(exc)
    if isinstance(exc, Http404):
        return errors.NotFound()
    if isinstance(exc, RequestDataTooBig):
        return errors.PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation):  # DisallowedHost and friends: Django says 400
        logging.getLogger(f"django.security.{exc.__class__.__name__}").error(str(exc))
        if isinstance(exc, DisallowedHost):
            return errors.ScimError("The Host header names a host this service does not serve.")
        return errors.ScimError("The request was refused as suspicious.")
    if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        return errors.NotAuthenticated()
    if isinstance(exc, drf_exceptions.PermissionDenied):
        return errors.PermissionDenied()
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return errors.MethodNotAllowed(f"Method {exc.args[0] if exc.args else ''} not allowed.")
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return errors.UnsupportedMediaType()
    if isinstance(exc, drf_exceptions.ParseError):
        return errors.InvalidSyntax("The request body is not valid JSON.")
    if isinstance(exc, drf_exceptions.NotFound):
        return errors.NotFound()
    if isinstance(exc, drf_exceptions.APIException):
        return errors.ScimError(str(exc.detail), status=exc.status_code)
    if is_unavailable(exc):
        return errors.ServiceUnavailable()
    return errors.InternalError()


class ScimView(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [ScimJSONRenderer, PlainJSONRenderer]
    parser_classes = [ScimJSONParser, PlainJSONParser]
    content_negotiation_class = LenientNegotiation
    #: Resource name used in the request log ("Users", "Schemas", ...).
    resource_name = "SCIM"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._started = time.monotonic()
        # Validate Host (ALLOWED_HOSTS, X-Forwarded-Host) before any work: responses build
        # absolute URLs from it, and failing there would come after the write was committed.
        request.get_host()
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > provisioning_settings.SCIM_MAX_PAYLOAD_SIZE:
                raise errors.PayloadTooLarge(
                    f"The request body exceeds {provisioning_settings.SCIM_MAX_PAYLOAD_SIZE} bytes."
                )

    def perform_authentication(self, request: Request) -> None:
        try:
            request.user  # noqa: B018 (runs the authenticators)
        except errors.NotAuthenticated as exc:
            # A failed authentication is counted by the throttle (401, or 429 past its rate).
            raise throttling.refuse(request, self, exc) from None

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        # Outside ATOMIC_REQUESTS: every write is one transaction the core opens itself, so
        # that it can retry it after a deadlock (a retry inside the request's transaction
        # is impossible).
        return transaction.non_atomic_requests(super().as_view(**initkwargs))

    def permission_denied(
        self, request: Request, message: Any = None, code: Any = None
    ) -> NoReturn:
        if not request.successful_authenticator:
            raise throttling.refuse(request, self, errors.NotAuthenticated())
        raise errors.PermissionDenied()

    def handle_exception(self, exc: Exception) -> Response:
        scim_exc = to_scim_error(exc)
        if isinstance(scim_exc, errors.InternalError) and not isinstance(exc, errors.ScimError):
            logger.exception("SCIM request failed", exc_info=exc)
        elif isinstance(scim_exc, errors.ServiceUnavailable) and not isinstance(
            exc, errors.ScimError
        ):
            # Expected under load (a lock), or an outage: the operator needs to see which.
            log = logger.warning if is_retryable(exc) else logger.error
            log("SCIM request failed, database unavailable: %s", exc, exc_info=exc)
        response = error_response(scim_exc)
        self._outcome = f"{scim_exc.status} {scim_exc.scim_type or ''}".strip()
        return response

    def finalize_response(
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        user = getattr(request, "_user", None)
        slug = user.connection.slug if isinstance(user, ScimClientUser) else "-"
        if isinstance(user, ScimClientUser):
            recent.record(
                user.connection.pk, request.method or "", request.path, response.status_code
            )
        elapsed = (time.monotonic() - getattr(self, "_started", time.monotonic())) * 1000
        logger.info(
            "SCIM %s %s connection=%s status=%s outcome=%s %.1fms",
            request.method,
            self.resource_name,
            slug,
            response.status_code,
            getattr(self, "_outcome", "ok"),
            elapsed,
            extra={
                "scim_connection": slug,
                "scim_method": request.method,
                "scim_resource": self.resource_name,
                "scim_status": response.status_code,
            },
        )
        # Logged here, once, with the connection and the outcome: Django's request logger
        # would add a second line ("Unauthorized: /scim/v2/Users") for every 4xx and 5xx.
        response._has_been_logged = True
        return response


def parse_int(value: Any, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise errors.InvalidValue(f"'{name}' must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise errors.InvalidValue(f"'{name}' must be an integer.") from None
