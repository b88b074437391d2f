"""The deployment bundle's helpers: local CA and certificates, proxy configs from the templates in
`proxy/`, and a process launcher for app + proxy + local issuer (`deploy/make-certs`,
`deploy/run-stack`, and the proxy tests all use these, so what is tested is what is shipped)."""
