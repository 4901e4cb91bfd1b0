"""Connections (one customer's identity provider) and their SCIM tokens.

A :class:`Connection` is one customer's identity-provider link. Everything it provisions hangs
off it, so a SCIM token of one connection can neither see nor touch another's users.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..declared import connection_options, declared_tenant, effective, normalize_domains
from ..exceptions import DomainTaken
from ..mapping import validate_saml_attribute_mapping


class DeprovisionPolicy(models.TextChoices):
    DEACTIVATE = "deactivate", _("Deactivate the user (is_active = False)")
    DELETE = "delete", _("Delete the user")


class NameIdFormat(models.TextChoices):
    EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", _("emailAddress")
    PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", _("persistent")
    UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", _("unspecified")
    TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient", _("transient")


class Connection(models.Model):
    """One customer's identity provider: its SAML settings, JIT policy and SCIM tokens."""

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    from_settings = models.BooleanField(
        _("declared in settings"),
        default=False,
        editable=False,
        help_text=_("Kept in sync with DJANGO_PROVISIONING['CONNECTIONS']; edit it there."),
    )
    deprovision_policy = models.CharField(
        _("on SCIM DELETE"),
        max_length=16,
        choices=DeprovisionPolicy.choices,
        default=DeprovisionPolicy.DEACTIVATE,
    )
    verified_domains = models.JSONField(
        _("verified e-mail domains"),
        default=list,
        blank=True,
        help_text=_(
            "Domains this customer has proven to own, one connection each: the sign-in page "
            "sends these e-mails to this IdP, and only these link existing users."
        ),
    )

    # SAML identity provider
    idp_entity_id = models.CharField(_("IdP entity id"), max_length=1024, blank=True)
    idp_sso_url = models.URLField(_("IdP SSO URL (redirect binding)"), max_length=1024, blank=True)
    idp_slo_url = models.URLField(_("IdP SLO URL (redirect binding)"), max_length=1024, blank=True)
    idp_x509_certs = models.JSONField(
        _("IdP signing certificates"),
        default=list,
        blank=True,
        help_text=_("PEM or base64 certificates; several during a rollover."),
    )
    idp_metadata_url = models.URLField(
        _("IdP metadata URL"),
        max_length=1024,
        blank=True,
        help_text=_(
            "Where the IdP publishes its SAML metadata: refresh_idp_metadata fetches it again "
            "and takes new signing certificates (rollover) and URLs from it."
        ),
    )
    idp_metadata_url_untrusted = models.BooleanField(
        _("metadata URL given in the setup portal"),
        default=False,
        editable=False,
        help_text=_(
            "Given by someone without an account: refresh_idp_metadata fetches it under the "
            "portal's rules (HTTPS, public addresses only)."
        ),
    )
    # SAML service provider options
    name_id_format = models.CharField(
        _("NameID format"), max_length=128, choices=NameIdFormat.choices, default=NameIdFormat.EMAIL
    )
    sign_authn_requests = models.BooleanField(_("sign AuthnRequests"), default=False)
    want_assertions_signed = models.BooleanField(_("require signed assertions"), default=True)
    want_messages_signed = models.BooleanField(_("require signed responses"), default=False)
    want_assertions_encrypted = models.BooleanField(
        _("require encrypted assertions"), default=False
    )
    sp_certificate = models.TextField(_("SP certificate (PEM)"), blank=True)
    sp_private_key = models.TextField(_("SP private key (PEM)"), blank=True)
    clock_skew = models.PositiveIntegerField(
        _("allowed clock skew (seconds)"),
        default=120,
        # More than an hour of skew would make assertion expiry meaningless. The minimum
        # repeats the field's own range, so the whole rule reads in one place.
        validators=[MinValueValidator(0), MaxValueValidator(3600)],
    )
    allow_idp_initiated = models.BooleanField(_("allow IdP-initiated sign-in"), default=False)
    accept_unsigned_logout_response = models.BooleanField(
        _("accept unsigned LogoutResponses"),
        default=False,
        help_text=_(
            "Count an unsigned LogoutResponse (that answers our LogoutRequest) as confirmation "
            "of the sign-out at the IdP. SimpleSAMLphp, for one, does not sign them by default. "
            "The product's own session ends first either way."
        ),
    )
    # Just-in-time provisioning
    jit_create = models.BooleanField(_("create unknown users at sign-in"), default=True)
    jit_update = models.BooleanField(_("update attributes at every sign-in"), default=True)
    link_by_email = models.BooleanField(
        _("link existing users by verified e-mail domain"), default=False
    )
    attribute_mapping = models.JSONField(
        _("SAML attribute mapping overrides"),
        default=dict,
        blank=True,
        help_text=_(
            'SCIM path -> list of SAML attribute names, e.g. {"name.givenName": ["fn"], '
            '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": ["dept"]}'
        ),
        validators=[validate_saml_attribute_mapping],
    )
    groups_attribute = models.CharField(_("SAML groups attribute"), max_length=255, blank=True)
    group_mapping = models.JSONField(
        _("group mapping"),
        default=dict,
        blank=True,
        help_text=_(
            "IdP group (its id or name) -> the name of an existing local group to map it onto, "
            "or null for a group of this connection's own; unlisted IdP groups are ignored."
        ),
    )

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the row and its :class:`VerifiedDomain` claims in one transaction.

        Raises :class:`~django_provisioning.exceptions.DomainTaken` (and writes nothing) when a
        domain is verified for another connection, in the database or in settings.
        """
        update_fields = kwargs.get("update_fields")
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)
            if update_fields is None or "verified_domains" in update_fields:
                self.claim_domains()

    @classmethod
    def from_db(  # type: ignore[override]
        cls, db: str | None, field_names: Any, values: Any, *args: Any, **kwargs: Any
    ) -> Connection:
        """A row as loaded, with the settings laid over it (see :mod:`.declared`).

        Every load goes through here (querysets, ``select_related``, foreign keys), so no
        caller can act on a declared connection's stale row values.
        """
        # *args/**kwargs: Django 6.1 added keyword arguments (fetch_mode); pass them on.
        instance = super().from_db(db, field_names, values, *args, **kwargs)
        if not {"slug", "from_settings"} & instance.get_deferred_fields():
            effective(instance)
        return instance

    def claim_domains(self) -> None:
        """Make the :class:`VerifiedDomain` rows of this connection its ``verified_domains``.

        A domain is verified for one connection only: the unique column refuses a second
        claim even when two saves race, and a domain a connection declared in settings
        verifies cannot be claimed by another (its row may not exist yet).
        """
        from ..declared import declared_connections

        wanted = set(normalize_domains(self.verified_domains))
        # Only the rows this field wrote: a domain proven by DNS stays until revoked.
        claims = VerifiedDomain.objects.filter(connection=self, source=DomainSource.SETTINGS)
        claims.exclude(domain__in=wanted).delete()
        held = dict(
            VerifiedDomain.objects.filter(domain__in=wanted).values_list(
                "domain", "connection__slug"
            )
        )
        taken = {domain: slug for domain, slug in held.items() if slug != self.slug}
        for slug, options in declared_connections().items():
            if slug != self.slug:
                for domain in wanted.intersection(normalize_domains(options["verified_domains"])):
                    taken.setdefault(domain, slug)
        if taken:
            raise DomainTaken(taken)
        try:
            with transaction.atomic():
                VerifiedDomain.objects.bulk_create(
                    [VerifiedDomain(domain=d, connection=self) for d in sorted(wanted - set(held))]
                )
        except IntegrityError:  # a concurrent save claimed one first
            raced = VerifiedDomain.objects.filter(domain__in=wanted).exclude(connection=self)
            raise DomainTaken(dict(raced.values_list("domain", "connection__slug"))) from None

    @property
    def declared_tenant(self) -> Any:
        """The tenant lookup named by ``CONNECTIONS[slug]["tenant"]`` in settings, or None.

        Not a field: the adapter's ``get_tenant`` resolves it to the product's tenant. None
        for a connection created in the database (the product's tenant model points at it).
        """
        return declared_tenant(self.slug)

    def owns_email_domain(self, email: str) -> bool:
        """True when the domain of *email* is verified for this connection.

        By its ``verified_domains`` (no query) or by a DNS TXT record (one indexed lookup of
        its :class:`VerifiedDomain` rows, :mod:`django_provisioning.domains`).
        """
        _local, at, domain = (email or "").rpartition("@")
        domain = domain.strip().lower().rstrip(".")
        if not at or not domain:
            return False
        if domain in normalize_domains(self.verified_domains):
            return True
        if self.pk is None:
            return False
        return VerifiedDomain.objects.filter(
            connection=self, domain=domain, source=DomainSource.DNS
        ).exists()


class DomainSource(models.TextChoices):
    SETTINGS = "settings", _("settings or admin")
    DNS = "dns", _("DNS TXT record")


class VerifiedDomain(models.Model):
    """An e-mail domain verified for one connection: the claim the database keeps unique.

    Written lowercased, never by hand: by :meth:`Connection.save` from the connection's
    ``verified_domains`` (``source="settings"``), or by
    :func:`django_provisioning.domains.verify_domain` when the domain's owner proved it with a
    DNS TXT record (``source="dns"``). Home-realm discovery reads it
    (:mod:`django_provisioning.domains`).
    """

    domain = models.CharField(_("domain"), max_length=253, unique=True)
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="domain_claims"
    )
    source = models.CharField(
        _("verified by"), max_length=8, choices=DomainSource.choices, default=DomainSource.SETTINGS
    )

    class Meta:
        verbose_name = _("verified domain")
        verbose_name_plural = _("verified domains")
        ordering = ["domain"]
        constraints = [
            # Unique only means unique-per-case if every row is stored lowercased.
            models.CheckConstraint(
                condition=Q(domain=Lower("domain")), name="dp_verified_domain_lowercase"
            )
        ]

    def __str__(self) -> str:
        return self.domain


#: The fields a connection is configured by, in model order: the keys a connection in
#: ``DJANGO_PROVISIONING["CONNECTIONS"]`` may set, and the admin form's fields besides ``slug``.
CONNECTION_OPTIONS: tuple[str, ...] = connection_options(Connection)


class ScimToken(models.Model):
    """A SCIM bearer token: stored as a SHA-256 checksum, only a short prefix in clear."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="scim_tokens")
    name = models.CharField(_("name"), max_length=200, blank=True)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    checksum = models.CharField(_("checksum"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("SCIM token")
        verbose_name_plural = _("SCIM tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.connection.slug})"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
