from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model


class BearerTokenMiddleware:
    """``Authorization: Bearer <SCIM2_BENCH_TOKEN>`` signs the request in as the service
    account (one indexed lookup, as a token lookup costs)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if request.headers.get("Authorization") == f"Bearer {settings.BENCH_TOKEN}":
            request.user = get_user_model().objects.get(username="scim-service")
        return self.get_response(request)
