"""The nginx front of each server under test: the project's own templates, with /dicom's upstream swapped.

Both servers get the same nginx (proxy/nginx, rendered by `slicerweb.devstack`), the same TLS, the
same bearer check (`auth_request` to SlicerWeb's verifier) and the same OHIF build and app-config
(served by the SlicerWeb app at /browse, public like the docroot). The only difference is where
`/dicom/...` goes: SlicerWeb's app, or Orthanc (its DICOMweb plugin rooted at /dicom/ so that the
one app-config and the one verifier rule serve both). Two edits to a copy of the templates:

- `proxy_pass http://$slicerweb_upstream;` (the shared proxy snippet) becomes `proxy_pass
  http://$bench_upstream;`, a map choosing `bench_dicomweb` for /dicom paths (its own keep-alive
  pool, for either server) and the template's own choice (`$slicerweb_upstream`) otherwise;
- a second access log with `$msec` (ms resolution) and the upstream time of each request, which is
  how the server's share of the time to the first image is measured (`timeline.py`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from slicerweb.devstack.proxyconf import PROXY_DIR

TIMING_LOG = "bench-timing.log"
PROXY_SNIPPET = "snippets/proxy-app.conf"
MAIN_TEMPLATE = "slicerweb.conf.template"
APP_PASS = "proxy_pass http://$slicerweb_upstream;"
BENCH_BLOCK = """
# --- bench/ohif: /dicom goes to the server under test; per-request timing log. ---
upstream bench_dicomweb {{
    server {upstream};
    keepalive 32;
    keepalive_timeout 30s;
}}
map $uri $bench_upstream {{
    /dicom         bench_dicomweb;
    ~^/dicom/      bench_dicomweb;
    default        $slicerweb_upstream;
}}
log_format bench_timing '$msec $request_time "$upstream_response_time" $status $request_method $request_id $uri';
log_subrequest on;
access_log {{{{RUN_DIR}}}}/{log};
"""


class TemplateDrift(RuntimeError):
    """proxy/nginx no longer has the line this benchmark rewrites."""


def front_templates(target: Path, dicom_upstream: str = "{{APP_UPSTREAM}}", source: Path = PROXY_DIR / "nginx") -> Path:
    """Copy `source` (proxy/nginx) to `target` with /dicom proxied to `dicom_upstream` (host:port; default: the app)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    snippet = target / PROXY_SNIPPET
    text = snippet.read_text()
    if text.count(APP_PASS) != 1:
        raise TemplateDrift(f"{source / PROXY_SNIPPET}: expected exactly one '{APP_PASS}'")
    snippet.write_text(text.replace(APP_PASS, "proxy_pass http://$bench_upstream;"))
    main = target / MAIN_TEMPLATE
    block = BENCH_BLOCK.format(upstream=dicom_upstream, log=f"{TIMING_LOG} bench_timing")
    main.write_text(main.read_text() + block)
    return target
