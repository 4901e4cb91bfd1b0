"""The app's models: connections, SCIM tokens, link rows, audit events and SAML one-time state.

One module per concern; every model is importable from here (``from django_provisioning.models
import Connection``), which is also how Django finds them.
"""

from .audit import AuditEvent
from .connection import (
    CONNECTION_OPTIONS,
    Connection,
    DeprovisionPolicy,
    DomainSource,
    NameIdFormat,
    ScimToken,
    VerifiedDomain,
)
from .counter import ConnectionCounter
from .domain import DomainClaim
from .group import ExternalGroup, GroupGrant
from .identity import ExternalIdentity, ExternalIdentityValue, UserNameClaim, UserSession
from .portal import SetupLink
from .saml import SamlAssertionReplay, SamlPendingLogin

__all__ = [
    "CONNECTION_OPTIONS",
    "AuditEvent",
    "Connection",
    "ConnectionCounter",
    "DeprovisionPolicy",
    "DomainClaim",
    "DomainSource",
    "ExternalGroup",
    "ExternalIdentity",
    "ExternalIdentityValue",
    "GroupGrant",
    "NameIdFormat",
    "SamlAssertionReplay",
    "SamlPendingLogin",
    "ScimToken",
    "SetupLink",
    "UserNameClaim",
    "UserSession",
    "VerifiedDomain",
]
