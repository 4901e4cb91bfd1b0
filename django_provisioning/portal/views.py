"""The portal's pages: open a link, choose the IdP, its SAML steps and metadata, confirm.

Test sign-in, SCIM and domains are in :mod:`.steps`. Every page goes through
:func:`.access.portal_view` (the bound browser only); every change through
:func:`.changes.record_change` (audit row + ``portal_change`` signal).
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..models import Connection, SetupLink
from ..saml.config import saml_url, sp_entity_id
from ..saml.metadata_import import IdpMetadata, MetadataError, apply_idp_metadata
from .access import page, portal_view, protect, refusal
from .changes import affected_users, record_change
from .forms import MetadataForm
from .links import URL_NAMESPACE, open_link, set_browser_cookie
from .vendors import FIELD_LABELS, VENDORS, Vendor, fill

PENDING_KEY = "django_provisioning_portal_pending"


def url(name: str, link: SetupLink, *args: Any) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=[link.public_id, *args])


def vendor_or_404(key: str) -> Vendor:
    try:
        return VENDORS[key]
    except KeyError:
        raise Http404("No such identity provider.") from None


def sp_values(request: HttpRequest, connection: Connection) -> dict[str, str]:
    """The values the IdP is given, and the SCIM base URL."""
    return {
        "acs": saml_url(request, "acs", connection),
        "entity_id": sp_entity_id(connection, request),
        "slo": saml_url(request, "slo", connection),
        "metadata": saml_url(request, "metadata", connection),
        "scim_base": request.build_absolute_uri(reverse("django_provisioning_scim:root")),
    }


def vendor_context(
    request: HttpRequest, link: SetupLink, vendor: Vendor, step: str = "saml"
) -> dict[str, Any]:
    values = sp_values(request, link.connection)
    return {
        "step": step,
        "vendor": vendor,
        "values": values,
        "sp_fields": [
            ("acs", vendor.acs_label, values["acs"]),
            ("entity_id", vendor.entity_id_label, values["entity_id"]),
            ("slo", vendor.slo_label, values["slo"]),
            (
                "name_id",
                vendor.name_id_label,
                "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            ),
        ],
        "attributes": [
            (FIELD_LABELS[key], label, name) for key, (label, name) in vendor.attributes.items()
        ],
        "saml_steps": [fill(step, values) for step in vendor.saml_steps],
        "scim_steps": [fill(step, values) for step in vendor.scim_steps],
    }


@require_GET
def root_view(request: HttpRequest) -> HttpResponse:
    raise Http404("The portal is opened with a setup link.")


@require_http_methods(["GET", "POST"])
def open_view(request: HttpRequest, token: str) -> HttpResponse:
    """The link itself. GET asks to continue; the POST binds the browser (the first one only),
    then the browser leaves the secret URL for the portal's own."""
    access, secret = open_link(request, token, bind=request.method == "POST")
    if access.status == "unbound" and access.link is not None:
        # same-origin: under no-referrer Chromium posts "Origin: null", which CSRF refuses.
        return protect(
            render(request, "django_provisioning/portal/open.html", {"link": access.link}),
            "same-origin",
        )
    if access.status != "ok" or access.link is None:
        return refusal(request, access)
    link = access.link
    response = protect(HttpResponseRedirect(url("home", link)), "no-referrer")
    if secret:
        set_browser_cookie(response, request, link, secret)
        record_change(link, "link_opened", target=link.connection.slug)
    return response


@require_GET
@portal_view
def home_view(request: HttpRequest, link: SetupLink) -> HttpResponse:
    return page(request, link, "home.html", {"vendors": list(VENDORS.values())})


@require_http_methods(["GET", "POST"])
@portal_view
def saml_view(request: HttpRequest, link: SetupLink, vendor: str) -> HttpResponse:
    """The IdP's steps, the values to copy, and the form that takes its metadata."""
    chosen = vendor_or_404(vendor)
    context = vendor_context(request, link, chosen)
    if request.method != "POST":
        return page(request, link, "saml.html", {**context, "form": MetadataForm()})
    form = MetadataForm(request.POST, request.FILES)
    if not form.is_valid() or form.metadata is None:
        return page(request, link, "saml.html", {**context, "form": form}, status=400)
    metadata = form.metadata
    connection = link.connection
    users = affected_users(connection)
    # A new metadata URL changes no field today, but refresh_idp_metadata applies whatever it
    # serves later: handing the settings to another URL is replacing the IdP too.
    new_url = bool(form.metadata_url) and form.metadata_url != connection.idp_metadata_url
    if users and connection.idp_entity_id and (new_url or changes(connection, metadata)):
        # The new IdP could sign in as any of these accounts: ask first, naming how many.
        request.session[PENDING_KEY] = {
            "link": str(link.public_id),
            "metadata_url": form.metadata_url,
            "metadata": asdict(metadata),
        }
        return page(
            request,
            link,
            "confirm.html",
            {**context, "metadata": metadata, "users": users, "metadata_url": form.metadata_url},
        )
    return apply(request, link, chosen, metadata, form.metadata_url, context)


def changes(connection: Connection, metadata: IdpMetadata) -> list[str]:
    """The IdP fields *metadata* would change on *connection* (which stays unchanged)."""
    try:
        return apply_idp_metadata(copy.copy(connection), metadata)
    except MetadataError:
        return ["idp_entity_id"]  # apply() says why


@require_POST
@portal_view
def confirm_view(request: HttpRequest, link: SetupLink, vendor: str) -> HttpResponse:
    chosen = vendor_or_404(vendor)
    pending = request.session.get(PENDING_KEY) or {}
    if pending.get("link") != str(link.public_id) or request.POST.get("confirm") != "replace":
        return HttpResponseRedirect(url("saml", link, chosen.key))
    del request.session[PENDING_KEY]
    metadata = IdpMetadata(**pending["metadata"])
    context = vendor_context(request, link, chosen)
    return apply(request, link, chosen, metadata, pending["metadata_url"], context)


def apply(
    request: HttpRequest,
    link: SetupLink,
    vendor: Vendor,
    metadata: IdpMetadata,
    metadata_url: str,
    context: dict[str, Any],
) -> HttpResponse:
    """Write the IdP settings (audited, signalled) and go on to the test sign-in."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=link.connection.pk)
        previous = connection.idp_entity_id
        try:
            changed = apply_idp_metadata(connection, metadata)
        except MetadataError as exc:
            form = MetadataForm()
            form.cleaned_data = {}
            form.add_error(None, str(exc))
            return page(request, link, "saml.html", {**context, "form": form}, status=400)
        if connection.idp_metadata_url != metadata_url:
            connection.idp_metadata_url = metadata_url
            changed.append("idp_metadata_url")
        if connection.idp_metadata_url_untrusted != bool(metadata_url):
            # A stranger's URL: refresh_idp_metadata fetches it under the same rules as here.
            # (No URL: nothing to mark; a URL the operator sets later is the operator's.)
            connection.idp_metadata_url_untrusted = bool(metadata_url)
            changed.append("idp_metadata_url_untrusted")
        if changed:
            # Only the IdP fields: the portal never rewrites the rest of the row.
            connection.save(update_fields=[*changed, "updated_at"])
            link.connection = connection
            record_change(
                link,
                "idp_settings",
                target=metadata.entity_id,
                vendor=vendor.key,
                changed=changed,
                previous_entity_id=previous,
                entity_id=metadata.entity_id,
                metadata_url=metadata_url,
            )
    return HttpResponseRedirect(url("test", link, vendor.key))
