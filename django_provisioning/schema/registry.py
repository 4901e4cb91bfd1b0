"""The User schema extensions configured by the product, as the schema sees them.

The design is a provider that the core installs. The schema imports nothing of the package but
its exceptions (docs/architecture.rst), so it cannot read the ``USER_SCHEMA_EXTENSIONS``
setting itself; :mod:`django_provisioning.conf` installs a function that builds the
extensions from the setting (:func:`.extensions.build_extensions`) with
:meth:`ExtensionRegistry.install`, and calls :meth:`ExtensionRegistry.reset` on Django's
``setting_changed``. The built :class:`~.attributes.Schema` objects are kept until then, so
no request builds them; ``USER_RESOURCE.extensions`` (:mod:`.definitions`) reads them here.

Anything cached from a resource type's extensions (a parsed attribute path) is keyed on
:attr:`ExtensionRegistry.generation`, which every reset increments, so a changed setting never
leaves a stale parse behind.
"""

from __future__ import annotations

from collections.abc import Callable

from .attributes import Schema

Provider = Callable[[], tuple[Schema, ...]]


class ExtensionRegistry:
    """The configured extensions: built once by the installed provider, dropped on reset."""

    def __init__(self) -> None:
        self._provider: Provider | None = None
        self._built: tuple[Schema, ...] | None = None
        self.generation = 0

    def install(self, provider: Provider | None) -> None:
        """Use *provider* (None: no configured extensions) from now on."""
        self._provider = provider
        self.reset()

    def reset(self) -> None:
        """Drop what was built; the next read builds it again from the provider."""
        self._built = None
        self.generation += 1

    def extensions(self) -> tuple[Schema, ...]:
        built = self._built
        if built is None:
            generation = self.generation
            built = self._provider() if self._provider is not None else ()
            if generation == self.generation:  # not reset while building
                self._built = built
        return built


#: The registry ``USER_RESOURCE`` reads its configured extensions from.
user_extensions = ExtensionRegistry()
