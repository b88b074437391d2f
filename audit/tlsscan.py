"""TLS scan of each front with testssl.sh (SNI = the stack's server name, connecting to 127.0.0.1):
no SSLv2/3, TLS 1.0/1.1 not offered, no finding of severity HIGH or CRITICAL. Quick mode checks the
protocols only; full mode adds ciphers, server preferences, defaults and vulnerabilities."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .environment import Environment
from .report import Case, Report

AREA = "tls"
OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
# testssl.sh findings rated HIGH that are deliberate here, with the reason (shown in the report).
ACCEPTED = {
    "cipher_order": "Mozilla intermediate sets no server cipher order (ssl_prefer_server_ciphers off)",
    "cert_revocation": "the audit's local CA publishes no CRL/OCSP URI; a deployment's CA decides",
}


def run(env: Environment, scratch: Path, report: Report, *, quick: bool) -> None:
    tool = shutil.which("testssl") or shutil.which("testssl.sh")
    if tool is None:
        report.note(AREA, "not run: testssl.sh is not installed (deploy/install-system-deps installs it)")
        return
    scratch.mkdir(parents=True, exist_ok=True)
    checks = ["-p"] if quick else ["-p", "-s", "-P", "-S", "-U"]
    for target in env.targets():
        if not target.tls:
            continue
        out = scratch / f"{target.name}.json"
        command = [tool, "--quiet", "--color", "0", "--warnings", "off", "--ip", "127.0.0.1", "--openssl-timeout",
                   "10", "--add-ca", str(target.ca_file), *checks, "--jsonfile", str(out),
                   f"{target.server_name}:{target.port}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        findings = json.loads(out.read_text()) if out.exists() else []
        offered_old = [f["id"] for f in findings if f.get("id") in OLD_PROTOCOLS and "not offered" not in
                       f.get("finding", "")]
        high = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")]
        severe = [f"{f['id']}: {f.get('finding', '')}"[:120] for f in high if f.get("id") not in ACCEPTED]
        accepted = sorted({f["id"] for f in high if f.get("id") in ACCEPTED})
        offered = [f["id"] for f in findings if f.get("id", "").startswith("TLS1") and f.get("finding", "")
                   .startswith("offered")]
        report.add(Case(AREA, f"{target.name}: testssl.sh {' '.join(checks)}",
                        "no SSLv2/3 or TLS 1.0/1.1; no HIGH/CRITICAL finding",
                        f"offered {offered}; old {offered_old or 'none'}; severe {severe or 'none'}; "
                        f"accepted {[f'{a} ({ACCEPTED[a]})' for a in accepted] or 'none'} "
                        f"({len(findings)} findings, exit {done.returncode})", len(findings),
                        passed=bool(findings) and not offered_old and not severe))
