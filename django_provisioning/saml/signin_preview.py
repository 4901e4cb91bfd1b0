"""What a validated test sign-in would do to the accounts, worked out without writing anything.

The same steps as a real sign-in (:func:`.views.acs_finish_view` and
:func:`~django_provisioning.jit.provision_from_saml`), read-only: the SCIM document built from
the assertion, the adapter's ``pre_jit`` (which may veto), the lookup by NameID then userName,
the linking rules by verified e-mail domain, the connection's ``jit_create`` and
``jit_update``, the deactivated-account refusal, the local username (``generate_username``
included), the mapped fields set on an **unsaved** user object (the existing account's is a
fresh copy, never saved), and the local groups of the IdP groups the connection syncs.

Not run: ``pre_saml_login`` (a veto at login time, given the request of a real sign-in),
``populate_related`` and callables of ``USER_ATTRIBUTE_MAP`` (they write the product's rows),
``attach_user_to_tenant``. A userName taken by another connection's account at the very moment
of a real sign-in, or an adapter whose group hooks decide otherwise than the defaults, can still
make the real sign-in differ.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..adapter import get_adapter
from ..exceptions import Conflict, InvalidData, ProvisioningDenied
from ..group_rows import match
from ..jit import CANNOT_LINK, find_identity_for_saml
from ..linking import find_linkable_user
from ..local_groups import mapped_name
from ..models import ExternalGroup
from ..provisioning import DEACTIVATED
from ..usernames import assign, keep_unless_renamed, local_name
from . import attributes
from .errors import SamlError
from .signin_reasons import Failure, denied, explain

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..models import Connection


def preview(request: HttpRequest, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """The result of a test sign-in whose response passed every check (*data*: what the ACS
    stored of it), as the fields of a :class:`~.test_signin.TestSignInResult`."""
    name_id, name_id_format = str(data["name_id"]), str(data["name_id_format"])
    values: dict[str, list[str]] = data.get("attributes") or {}
    arrived: dict[str, Any] = {
        "name_id": name_id,
        "name_id_format": name_id_format,
        "attributes": values,
        "groups": attributes.group_values(connection, values),
    }
    adapter = get_adapter()
    try:
        document = attributes.build_document(connection, name_id, name_id_format, values)
        saml_data = {**data, "connection": connection}
        document = adapter.pre_jit(request, connection, document, saml_data)
        document = attributes.canonical_document(document)
        created, linked_user, fields = _account(connection, name_id, name_id_format, document)
        joined = _groups(connection, attributes.group_names_for(connection, values) or [])
    except ProvisioningDenied as exc:
        return _failed(denied(exc, request, connection), arrived)
    except Conflict:
        return _failed(denied(ProvisioningDenied(CANNOT_LINK), request, connection), arrived)
    except InvalidData as exc:
        error = SamlError("invalid_attributes", str(exc))
        return _failed(explain(error, request, connection), arrived)
    except SamlError as error:
        return _failed(explain(error, request, connection), arrived)
    return {
        "ok": True,
        "fields": fields,
        "groups_joined": joined,
        "created": created,
        "linked_user": linked_user,
        **arrived,
    }


def _failed(failure: Failure, arrived: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, **asdict(failure), **arrived}


def _fields(user: Any, connection: Connection) -> dict[str, str]:
    """The user model fields the attribute map sets, as they read on *user* now."""
    fields: dict[str, str] = {}
    names = [m.field for m in get_adapter().mapped_attributes(connection) if m.field]
    for name in [type(user).USERNAME_FIELD, *names]:
        value = getattr(user, name, None)
        fields[name] = "" if value is None else str(value)
    return fields


def _account(
    connection: Connection, name_id: str, name_id_format: str, document: dict[str, Any]
) -> tuple[bool, str | None, dict[str, str]]:
    """(would create, the existing account reached, the fields set): JIT's decisions, read-only."""
    adapter = get_adapter()
    identity = find_identity_for_saml(
        connection,
        name_id=name_id,
        name_id_format=name_id_format,
        user_name=document.get("userName"),
    )
    if identity is not None:
        user = identity.user
        if identity.deleted_at is not None or not adapter.is_user_active(user):
            raise ProvisioningDenied(DEACTIVATED)
        old = local_name(user)
        if not connection.jit_update:
            return False, old, {}
        merged = {**identity.document, **document, "active": True}
        adapter.populate_user(user, merged, connection)
        source = adapter.local_name_source(connection)
        keep_unless_renamed(adapter, user, old, identity.document, merged, source)
        return False, old, _fields(user, connection)
    if not document.get("userName"):
        raise ProvisioningDenied("The identity provider sent no usable user name.")
    linkable = find_linkable_user(connection, document)
    if linkable is None and not connection.jit_create:
        raise ProvisioningDenied("There is no account for you here; ask your administrator.")
    if linkable is not None:
        if not adapter.is_user_active(linkable):
            raise ProvisioningDenied(DEACTIVATED)
        kept = local_name(linkable)
        adapter.populate_user(linkable, document, connection)
        setattr(linkable, type(linkable).USERNAME_FIELD, kept)
        return False, kept, _fields(linkable, connection)
    new = adapter.new_user(connection, document)
    adapter.populate_user(new, document, connection)
    assign(adapter, connection, new, document)
    return True, None, _fields(new, connection)


def _groups(connection: Connection, values: list[str]) -> list[str]:
    """The local groups a sign-in would put the user in, for IdP group *values* it syncs."""
    adapter = get_adapter()
    found = match(connection, values)
    joined: list[str] = []
    for value in values:
        row = found.get(value)
        if row is not None:
            if row.group is not None:
                joined.append(str(row.group))
            continue
        unsaved = ExternalGroup(connection=connection, external_id=value, display_name=value)
        target = mapped_name(connection, unsaved)
        if target is None:
            joined.append(adapter.local_group_name(connection, unsaved))
        elif adapter.local_groups_for(connection).filter(name=target).exists():
            joined.append(target)
    return list(dict.fromkeys(joined))
