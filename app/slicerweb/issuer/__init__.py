"""A small local OIDC provider for development and the tests (`slicerweb issuer`).

Serves discovery, JWKS, a login page (username + password, CSRF-protected, throttled) on the
authorization endpoint, a token endpoint (client credentials; authorization code with PKCE S256;
rotated refresh tokens), userinfo, end-session, revocation and RFC 7662 introspection, and signs
RFC 9068 access tokens and OIDC ID tokens, so every test uses real signed tokens and the app fetches
real keys. Not for production: clients are configured on the command line, users in a JSON file,
and all grants live in the process's memory. Runtime code never imports this package.
"""
