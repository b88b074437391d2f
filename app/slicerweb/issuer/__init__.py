"""A small local OIDC provider for development and the tests (`slicerweb issuer`).

Serves discovery, JWKS, a token endpoint (client credentials; authorization code with PKCE S256 for
the browser) and RFC 7662 introspection, and signs RFC 9068 access tokens, so every test uses real
signed tokens and the app fetches real keys. Not for production: clients are configured on the
command line, the authorization endpoint approves the configured developer without a login page.
"""
