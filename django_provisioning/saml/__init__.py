"""SAML 2.0 service provider over python3-saml."""
