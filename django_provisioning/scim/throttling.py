"""Failed SCIM authentications: throttled per client address and written to the audit trail.

The throttle is Django REST framework's :class:`~rest_framework.throttling.SimpleRateThrottle`,
keyed by the client address DRF resolves (``get_ident``, which honours DRF's ``NUM_PROXIES``),
with its history in the ``RATE_LIMIT_CACHE`` cache. Unlike a DRF throttle in
``throttle_classes`` it sees only *failed* authentications: a request with a valid token never
reaches it, so an identity provider that shares its addresses with a guesser (Okta and Entra
send many customers' traffic from the same ones) is never slowed by the guesser's failures.
Past ``SCIM_FAILED_AUTH_RATE``, a request from that address without a valid token is answered
``429`` with ``Retry-After`` instead of ``401``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.cache import BaseCache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from ..audit import digest, rate_limit_cache, record_refusal
from ..conf import provisioning_settings
from . import errors

logger = logging.getLogger("django_provisioning.scim")

MAX_PATH_LENGTH = 200


class FailedAuthenticationThrottle(SimpleRateThrottle):
    """DRF's rate throttle over failed authentications per client address."""

    scope = "scim_failed_auth"
    cache_format = "django_provisioning:throttle:%(scope)s:%(ident)s"

    def __init__(self, cache: BaseCache | None = None) -> None:
        # An instance attribute, so the cache named in settings (or a test's own client) is
        # used instead of the class-level default cache of DRF.
        self.cache = cache if cache is not None else rate_limit_cache()
        super().__init__()

    def get_rate(self) -> str | None:
        return provisioning_settings.SCIM_FAILED_AUTH_RATE  # type: ignore[no-any-return]

    def get_cache_key(self, request: Any, view: Any) -> str:
        # Hashed: without NUM_PROXIES the ident is the client's whole X-Forwarded-For header,
        # which no cache key should carry verbatim (memcached refuses spaces, long keys).
        ident = self.get_ident(request) or "-"
        return self.cache_format % {"scope": self.scope, "ident": digest(ident)}

    def retry_after(self) -> int:
        """Whole seconds until the oldest counted failure leaves the window (``wait()``)."""
        wait = self.wait()
        window: int = getattr(self, "duration", None) or 1  # set by DRF from the rate
        return max(1, math.ceil(wait if wait is not None else window))


def refuse(request: Request, view: Any, exc: errors.NotAuthenticated) -> errors.ScimError:
    """Count one failed authentication; the error to answer: *exc* (401), or 429 past the rate.

    The refusal is also audited (rate-limited, see :mod:`django_provisioning.audit`), with the
    reason, the client address and, for a token of ours that is no longer usable, its prefix
    (the part shown in the admin) and connection; never the presented token itself.
    """
    throttle = FailedAuthenticationThrottle()
    try:
        # DRF records the failure when it is allowed; a throttled one is not recorded, so
        # the window slides and Retry-After holds.
        allowed = throttle.allow_request(request, view)
    except Exception:  # a cache outage must not turn a 401 into a 500
        logger.warning("Failed-authentication throttle skipped: the cache failed", exc_info=True)
        allowed = True
    answer: errors.ScimError = exc
    if not allowed:
        answer = errors.TooManyRequests(retry_after=throttle.retry_after())
    token = getattr(exc, "token", None)
    detail: dict[str, Any] = {
        "method": request.method,
        "path": request.path[:MAX_PATH_LENGTH],
        "status": answer.status,
    }
    if token is not None:
        detail.update(token_id=token.pk, token_prefix=token.prefix)
    record_refusal(
        request,
        source="scim",
        action="auth_refused",
        reason=getattr(exc, "reason", "no_credentials"),
        connection=token.connection if token is not None else None,
        **detail,
    )
    return answer
