"""The provisioning core's errors: protocol-neutral, each door renders them its way.

(:class:`~django_provisioning.adapter.ProvisioningDenied`, raised by hooks and by the core when
a policy refuses, lives with the adapter.)
"""

from __future__ import annotations


class ProvisioningError(Exception):
    """Base class of the core's errors; the message is safe to show to the client."""


class Conflict(ProvisioningError):
    """A unique attribute (userName) is taken."""


class InvalidData(ProvisioningError):
    """The data cannot be stored on the user model (a field validator refused it)."""


class Gone(ProvisioningError):
    """The link row was deleted (over SCIM, or with its user) before the write could lock it."""
