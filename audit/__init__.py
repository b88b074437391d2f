"""`make audit`: the evidence harness (attack corpus, fuzzing, OpenAPI fuzzing, faults, slow clients,
load, TLS scan) writing reports/audit.md. Development-only: runtime code never imports it."""
