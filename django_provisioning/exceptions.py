"""The core's errors: what the provisioning core and the schema refuse, in no protocol's words.

Every module raises and catches them from here. Each door translates them into its protocol in
one place: the SCIM door with :func:`django_provisioning.scim.errors.from_core` (a status and a
``scimType``), the SAML door into the error page. Their message is safe to show to the client.

The schema errors (:class:`SchemaError` and its subclasses) are one class per kind of refusal,
so a door can tell a malformed document from a bad value, a change to an immutable attribute or
an unknown attribute path without reading the message.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError


class ProvisioningError(Exception):
    """Base class of the core's errors; the message is safe to show to the client."""


class Conflict(ProvisioningError):
    """A unique attribute (userName) is taken."""


class InvalidData(ProvisioningError):
    """The data cannot be stored on the user model (a field validator refused it)."""


class ProvisioningDenied(ProvisioningError):
    """Raised by a hook to refuse a provisioning action or a sign-in; the message is shown."""


class SchemaError(ProvisioningError):
    """A document, a value or an attribute path that the schema refuses."""


class InvalidSyntax(SchemaError):
    """The document is not shaped like a resource (not an object, wrong ``schemas``)."""


class InvalidValue(SchemaError):
    """A value has the wrong type, a required one is missing, or there are too many."""


class ImmutableAttribute(SchemaError):
    """A change to an ``immutable`` attribute that already has a value (RFC 7643 §2.2)."""


class InvalidPath(SchemaError, ValueError):
    """An attribute path the schema does not have, or cannot be written as (a ``ValueError``)."""


class Gone(ProvisioningError):
    """The link row was deleted (over SCIM, or with its user) before the write could lock it."""


class DomainTaken(ValidationError):
    """A verified e-mail domain is another connection's: a domain is verified for one only.

    A ``ValidationError`` (``code="domain_taken"``), so a form shows it on the field;
    ``domains`` maps each refused domain to the slug of the connection that has it.
    """

    def __init__(self, domains: Mapping[str, str]) -> None:
        self.domains = dict(domains)
        listed = ", ".join(f"{d} ({slug})" for d, slug in sorted(self.domains.items()))
        super().__init__(
            f"Verified for another connection already: {listed}. A domain is verified for "
            "one connection only; remove it there first.",
            code="domain_taken",
        )
