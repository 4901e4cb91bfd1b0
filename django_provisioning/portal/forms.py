"""The portal's forms: the IdP's metadata (URL, file or three values) and a domain."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.core.validators import URLValidator

from ..domains import clean_domain
from ..models import Connection
from ..saml.fetch import _allowlisted as allowlisted
from ..saml.fetch import fetch_metadata
from ..saml.metadata_import import (
    IdpMetadata,
    MetadataError,
    certificate_expiry,
    check_idp_metadata,
    parse_idp_metadata,
)

MAX_UPLOAD = 1_048_576


def debug_http_urls(metadata: IdpMetadata) -> list[str]:
    """The IdP's http:// URLs on a host of the ``DEBUG``-only fetch allowlist (the demo's
    development IdP): accepted in development as the fetcher accepts them; never otherwise."""
    found = []
    for url in (metadata.sso_url, metadata.slo_url):
        parts = urlsplit(url or "")
        if parts.scheme == "http" and parts.hostname:
            try:
                port = parts.port or 80
            except ValueError:
                continue
            if allowlisted(parts.hostname, port):
                found.append(url)
    return found


class MetadataForm(forms.Form):
    """One of three ways to give the IdP's settings; ``source`` says which (a submit button)."""

    source = forms.ChoiceField(
        choices=[("url", "URL"), ("file", "file"), ("manual", "by hand")],
        widget=forms.HiddenInput,
    )
    url = forms.CharField(label="Metadata URL", required=False, max_length=2048)
    file = forms.FileField(label="Metadata XML file", required=False)
    entity_id = forms.CharField(label="IdP entity id (Issuer)", required=False, max_length=1024)
    sso_url = forms.CharField(label="IdP single sign-on URL", required=False, max_length=1024)
    certificate = forms.CharField(
        label="IdP signing certificate (PEM)", required=False, widget=forms.Textarea
    )

    metadata: IdpMetadata | None = None
    #: The URL the metadata came from ("" for a file or values by hand): the connection keeps
    #: it, so that refresh_idp_metadata keeps the settings current (certificate rollover).
    metadata_url = ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        source = data.get("source")
        try:
            if source == "url":
                self.metadata = self._from_url(data.get("url") or "")
            elif source == "file":
                self.metadata = self._from_file(data.get("file"))
            elif source == "manual":
                self.metadata = self._by_hand(data)
        except MetadataError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if self.metadata is not None:
            problems = [
                problem
                for problem in check_idp_metadata(self.metadata)
                if not any(url in problem for url in debug_http_urls(self.metadata))
            ]
            problems += self._too_long(self.metadata)
            if problems:
                raise forms.ValidationError(problems)
        return data

    def _too_long(self, metadata: IdpMetadata) -> list[str]:
        """The values longer than the connection's columns hold (a database error otherwise)."""
        found = []
        for name, label, value in (
            ("idp_entity_id", "entity id", metadata.entity_id),
            ("idp_sso_url", "single sign-on URL", metadata.sso_url),
            ("idp_slo_url", "single logout URL", metadata.slo_url),
            ("idp_metadata_url", "metadata URL", self.metadata_url),
        ):
            limit = getattr(Connection._meta.get_field(name), "max_length", None)
            if limit is not None and len(value or "") > limit:
                found.append(f"The identity provider's {label} is longer than {limit} characters.")
        return found

    def _from_url(self, url: str) -> IdpMetadata:
        if not url.strip():
            raise MetadataError("Enter the metadata URL.")
        metadata = parse_idp_metadata(fetch_metadata(url.strip(), untrusted=True))
        self.metadata_url = url.strip()
        return metadata

    def _from_file(self, upload: Any) -> IdpMetadata:
        if upload is None:
            raise MetadataError("Choose the metadata XML file.")
        if upload.size > MAX_UPLOAD:
            raise MetadataError(f"The file is larger than {MAX_UPLOAD} bytes.")
        return parse_idp_metadata(upload.read())

    def _by_hand(self, data: dict[str, Any]) -> IdpMetadata:
        entity_id = (data.get("entity_id") or "").strip()
        sso_url = (data.get("sso_url") or "").strip()
        cert = (data.get("certificate") or "").strip()
        missing = [
            label
            for label, value in (
                ("the entity id", entity_id),
                ("the single sign-on URL", sso_url),
                ("the signing certificate", cert),
            )
            if not value
        ]
        if missing:
            raise MetadataError("Enter " + ", ".join(missing) + ".")
        try:
            URLValidator(schemes=["http", "https"])(sso_url)
        except forms.ValidationError:
            raise MetadataError(f"{sso_url!r} is not a URL.") from None
        try:
            certificate_expiry(cert)
        except (MetadataError, ValueError):
            raise MetadataError(
                "The signing certificate is not a PEM or base64 X.509 certificate."
            ) from None
        return IdpMetadata(entity_id=entity_id, sso_url=sso_url, certificates=[cert])


class DomainForm(forms.Form):
    domain = forms.CharField(
        label="Your e-mail domain", max_length=253, help_text="For example: example.com"
    )

    def clean_domain(self) -> str:
        try:
            return clean_domain(self.cleaned_data["domain"])
        except ValueError:
            raise forms.ValidationError("Enter a domain name, e.g. example.com.") from None
