"""The self-serve setup portal: a customer's IT admin sets up one connection from a link.

Composition layer (uses the SAML and SCIM doors and the core). See docs/portal.rst.
"""
