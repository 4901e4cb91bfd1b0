"""SCIM 2.0 provisioning and SAML 2.0 sign-in with just-in-time accounts for Django."""

__version__ = "0.1.0.dev0"
