"""The portal's later steps: test sign-in, SCIM (token and live status), verified domains."""

from __future__ import annotations

from datetime import datetime, timezone

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from ..domains import domain_challenge, verify_domain
from ..models import Connection, DomainClaim, SetupLink, VerifiedDomain
from ..saml.test_signin import begin_test_sign_in, pop_test_result
from ..scim import recent
from ..tokens import issue_token
from .access import page, portal_view, protect
from .changes import record_change
from .forms import DomainForm
from .views import url, vendor_context, vendor_or_404


@require_http_methods(["GET", "POST"])
@portal_view
def test_view(request: HttpRequest, link: SetupLink, vendor: str) -> HttpResponse:
    """A button that runs a real SAML sign-in that signs nobody in; then what arrived."""
    chosen = vendor_or_404(vendor)
    connection = link.connection
    if request.method == "POST":
        if not connection.idp_sso_url:
            return page(
                request,
                link,
                "test.html",
                {**vendor_context(request, link, chosen, "test"), "not_ready": True},
                status=400,
            )
        return protect(
            begin_test_sign_in(request, connection, return_to=url("test", link, chosen.key))
        )
    result = pop_test_result(request, connection)
    return page(
        request,
        link,
        "test.html",
        {
            **vendor_context(request, link, chosen, "test"),
            "result": result,
            "not_ready": not connection.idp_sso_url,
        },
    )


def status_rows(link: SetupLink) -> list[dict[str, object]]:
    """The connection's last SCIM requests, with their time and whether they were accepted."""
    return [
        {
            **row,
            "when": datetime.fromtimestamp(float(row["time"]), tz=timezone.utc),
            "ok": int(row["status"]) < 400,
        }
        for row in recent.recent(link.connection.pk)
    ]


@require_http_methods(["GET", "POST"])
@portal_view
def scim_view(request: HttpRequest, link: SetupLink, vendor: str) -> HttpResponse:
    """The SCIM base URL, a token issued on request (shown once), the IdP's steps, status."""
    chosen = vendor_or_404(vendor)
    token = ""
    if request.method == "POST":
        row, token = issue_token(link.connection, name=f"{chosen.name} (setup portal)")
        record_change(
            link, "scim_token", target=row.prefix, vendor=chosen.key, token_prefix=row.prefix
        )
    return page(
        request,
        link,
        "scim.html",
        {
            **vendor_context(request, link, chosen, "scim"),
            "token": token,
            "requests": status_rows(link),
        },
    )


def verified_domains(connection: Connection) -> list[str]:
    """The domains verified for *connection*, in settings, the admin or by DNS."""
    return list(
        VerifiedDomain.objects.filter(connection=connection)
        .order_by("domain")
        .values_list("domain", flat=True)
    )


@require_http_methods(["GET", "POST"])
@portal_view
def domains_view(request: HttpRequest, link: SetupLink) -> HttpResponse:
    """The TXT record that proves a domain, and the button that checks it."""
    connection = link.connection
    form = DomainForm(request.POST or None)
    context: dict[str, object] = {"form": form, "verified": verified_domains(connection)}
    if request.method == "POST":
        if not form.is_valid():
            return page(request, link, "domains.html", context, status=400)
        domain = form.cleaned_data["domain"]
        pending = DomainClaim.objects.filter(connection=connection, domain=domain).exists()
        context["challenge"] = domain_challenge(connection, domain)
        if not pending:
            record_change(link, "domain_claimed", target=domain, domain=domain)
        if request.POST.get("action") == "verify":
            result = verify_domain(connection, domain)
            context["result"] = result
            if result.verified:
                record_change(link, "domain_verified", target=domain, domain=domain)
                context["verified"] = verified_domains(connection)
    return page(request, link, "domains.html", context)
