"""factory-boy factories for the test suite."""

from __future__ import annotations

import itertools
from typing import Any

import factory
from django.contrib.auth import get_user_model

from django_provisioning import provisioning
from django_provisioning.models import Connection
from django_provisioning.schema.definitions import USER_RESOURCE
from django_provisioning.schema.document import canonicalize

_serial = itertools.count()


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"customer-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    verified_domains: Any = factory.LazyFunction(list)


class UserFactory(factory.django.DjangoModelFactory):
    """A local user not linked to any connection (created by the product itself)."""

    class Meta:
        model = get_user_model()

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        username_field = model_class.USERNAME_FIELD
        kwargs.setdefault(username_field, f"local{next(_serial)}@example.org")
        password = kwargs.pop("password", None)
        user = model_class(**kwargs)
        user.set_password(password)
        user.save()
        return user


def scim_user(connection: Connection, user_name: str = "alice@example.com", **attrs: Any) -> Any:
    """Provision a user through the core, as SCIM POST would; returns the ExternalIdentity."""
    body = {"schemas": [USER_RESOURCE.schema.id], "userName": user_name, **attrs}
    document, password = canonicalize(body, USER_RESOURCE)
    return provisioning.create_user(connection, document, password=password)
