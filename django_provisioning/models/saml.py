"""SAML one-time state: consumed assertion ids (the replay cache) and pending logins."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from .connection import Connection


class SamlAssertionReplay(models.Model):
    """An assertion id already consumed, kept until the assertion expires (replay cache)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    assertion_id = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "assertion_id"], name="dp_replay_unique")
        ]

    def __str__(self) -> str:
        return self.assertion_id


class SamlPendingLogin(models.Model):
    """A validated SAML response waiting for the same-site second step of the ACS."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    key_checksum = models.CharField(max_length=64, unique=True)
    in_response_to = models.CharField(max_length=255, blank=True)
    relay_state = models.TextField(blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    #: A test sign-in (:mod:`django_provisioning.saml.test_signin`): its second step shows
    #: what arrived and never signs anyone in; ``data`` may hold a failure instead.
    is_test = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"pending {'test sign-in' if self.is_test else 'login'} ({self.connection_id})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.data)
