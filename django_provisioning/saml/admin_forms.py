"""The connection admin form: the model fields plus a box to paste the IdP's metadata XML."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..domains import claimed_elsewhere
from ..exceptions import DomainTaken
from ..models import CONNECTION_OPTIONS, Connection
from .metadata_import import MetadataError, parse_idp_metadata

# Django 5.2 warns unless URL form fields say which scheme a bare host gets; IdP URLs are https.
URL_FIELD_OPTIONS: dict[str, Any] = {"assume_scheme": "https"}


def formfield(field: models.Field[Any, Any], **kwargs: Any) -> forms.Field | None:
    if isinstance(field, models.URLField):
        kwargs = {**URL_FIELD_OPTIONS, **kwargs}
    return field.formfield(**kwargs)


class ConnectionAdminForm(forms.ModelForm):
    idp_metadata_xml = forms.CharField(
        label=_("Paste IdP metadata XML"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text=_(
            "Optional. Fills the IdP entity id, SSO and SLO URLs and signing certificates "
            "from the identity provider's SAML metadata, replacing the values above."
        ),
    )

    class Meta:
        model = Connection
        formfield_callback = formfield
        fields = ("slug", *CONNECTION_OPTIONS)

    def clean_verified_domains(self) -> Any:
        """Refuse a domain another connection verified: one connection per domain."""
        value = self.cleaned_data.get("verified_domains")
        slug = self.cleaned_data.get("slug") or self.instance.slug
        taken = claimed_elsewhere(slug, value)
        if taken:
            raise DomainTaken(taken)
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        pasted = (cleaned.get("idp_metadata_xml") or "").strip()
        if not pasted:
            return cleaned
        if self.instance.pk and self.instance.from_settings:
            raise forms.ValidationError(
                _("This connection is declared in settings; change it there."),
                code="from_settings",
            )
        try:
            metadata = parse_idp_metadata(pasted)
        except MetadataError as exc:
            self.add_error("idp_metadata_xml", str(exc))
            return cleaned
        cleaned.update(
            idp_entity_id=metadata.entity_id,
            idp_sso_url=metadata.sso_url,
            idp_slo_url=metadata.slo_url,
            idp_x509_certs=metadata.certificates,
        )
        return cleaned
