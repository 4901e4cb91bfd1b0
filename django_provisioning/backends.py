"""The authentication backend SAML sign-in logs users in with.

It authenticates nothing by itself: the ACS view logs in with it the user the core has just
provisioned from a validated assertion, and found active under the locks
(:func:`~django_provisioning.jit.provision_from_saml`); ``authenticate(request,
saml_identity=identity)`` makes the same check for code that goes through Django's
``authenticate()``. ``get_user`` refuses inactive users, so a user deactivated over SCIM loses
every session at its next request.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend

from .adapter import get_adapter

#: The dotted path of :class:`ProvisioningBackend`, as ``AUTHENTICATION_BACKENDS`` names it.
BACKEND = "django_provisioning.backends.ProvisioningBackend"


class ProvisioningBackend(BaseBackend):
    def authenticate(  # type: ignore[override]
        self, request: Any, saml_identity: Any = None, **kwargs: Any
    ) -> Any:
        if saml_identity is None:
            return None
        user = saml_identity.user
        if saml_identity.deleted_at is not None or not get_adapter().is_user_active(user):
            return None
        return user

    def get_user(self, user_id: Any) -> Any:
        model = get_user_model()
        user = model._default_manager.filter(pk=user_id).first()
        if user is None or not get_adapter().is_user_active(user):
            return None
        return user
