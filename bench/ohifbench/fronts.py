"""The two sites under test, each behind its own nginx (edge.py), sharing one local OIDC issuer.

`start_slicerweb` imports the study into a SlicerWeb data directory and starts the stack (app on a
Unix socket + nginx) exactly as `deploy/run-stack` does. `start_orthanc` starts Debian's Orthanc
1.10 + DICOMweb plugin (the same settings as bench/dicomweb, plugin rooted at /dicom/ and told its
public https address), loads the study over REST, and starts the same stack in front of it; the
SlicerWeb app there only verifies tokens and serves OHIF. Orthanc binds 0.0.0.0, so this runs inside
the private network namespace bench/ohif enters.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from dicomwebbench.servers import OrthancServer, SlicerWebServer

from slicerweb.devstack.stack import Stack, free_port, start_stack

from .edge import TIMING_LOG, front_templates
from .study import BenchStudy

AUDIENCE = "https://slicer.bench.lan"
# The injected header rides on every request, static ones too, so the token carries both scopes.
SCOPES = "dicomweb.read slicerweb.static"
# One client sends every request of a page load; the product's per-client rate limit stays out of the figures.
API_RATE = "1000000r/s"


def policy(issuer_url: str) -> str:
    """The stack's policy: bearer tokens from the local issuer; the viewer's static files public."""
    return f"""
[server]
allowed_hosts = ["localhost"]
trusted_proxies = ["127.0.0.1"]
[features]
dicomweb = true
[auth]
mode = "jwt"
issuer = "{issuer_url}"
audience = "{AUDIENCE}"
failure_limit = 0
public = ["static"]
"""


class FrontedOrthanc(OrthancServer):
    """Orthanc whose DICOMweb plugin answers at /dicom/ and writes URLs for the public https site."""

    def __init__(self, workdir: Path, public_host: str) -> None:
        super().__init__(workdir)
        self.public_host = public_host

    def config(self) -> dict[str, object]:
        config = super().config()
        dicomweb = cast(dict[str, object], config["DicomWeb"])
        dicomweb.update({"Root": "/dicom/", "Host": self.public_host, "Ssl": True})
        config["KeepAlive"] = True
        return config


@dataclass
class Front:
    """A running site: nginx + app (+ Orthanc behind /dicom)."""

    name: str
    stack: Stack
    orthanc: FrontedOrthanc | None = None
    peer_version: str = ""

    @property
    def timing_log(self) -> Path:
        return self.stack.directory / "run" / TIMING_LOG

    def stop(self) -> None:
        self.stack.stop()
        if self.orthanc is not None:
            self.orthanc.stop()


def start_slicerweb(work: Path, study: BenchStudy, issuer_url: str) -> Front:
    """Import the study (`slicerweb dicom import`), then start app + nginx."""
    loader = SlicerWebServer(work)
    loaded, _ = loader.bulk_load(study.directory)
    if loaded != study.slices:
        raise RuntimeError(f"SlicerWeb: imported {loaded} of {study.slices} instances")
    stack = start_stack("nginx", work, policy(issuer_url), api_rate=API_RATE, template_dir=front_templates(
        work / "templates"))
    return Front("SlicerWeb", stack)


def start_orthanc(work: Path, study: BenchStudy, issuer_url: str) -> Front:
    """Start Orthanc, load the study over REST, then start app + nginx with /dicom sent to Orthanc."""
    https_port = free_port()
    orthanc = FrontedOrthanc(work / "orthanc", public_host=f"localhost:{https_port}")
    orthanc.start()
    try:
        loaded, _ = orthanc.bulk_load(study.directory)
        if loaded != study.slices:
            raise RuntimeError(f"Orthanc: loaded {loaded} of {study.slices} instances")
        templates = front_templates(work / "templates", f"127.0.0.1:{orthanc.port}")
        stack = start_stack("nginx", work / "front", policy(issuer_url), https_port=https_port, api_rate=API_RATE,
                            template_dir=templates)
    except (RuntimeError, subprocess.SubprocessError):
        orthanc.stop()
        raise
    return Front("Orthanc", stack, orthanc, orthanc.version)
