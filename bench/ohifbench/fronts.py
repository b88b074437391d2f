"""The two sites under test, each behind its own nginx (edge.py), sharing one local OIDC issuer (signin.py).

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

from slicerweb.devstack.demo_stack import demo_policy, origin_of
from slicerweb.devstack.stack import Stack, start_stack

from .edge import TIMING_LOG, front_templates
from .signin import AUDIENCE, SERVER_NAME, BenchIssuer
from .study import BenchStudy

# One client sends every request of a page load; the product's per-client rate limit stays out of the figures.
API_RATE = "1000000r/s"


def policy(issuer: BenchIssuer) -> str:
    """The demo stack's policy (bearer tokens from the issuer, viewer public, OHIF signs in), DICOMweb read-only,
    and no failure lock-out: a benchmark's one client must not be locked out by a stray failure."""
    return demo_policy(issuer.url, SERVER_NAME, issuer.ca_file, audience=AUDIENCE, features="dicomweb = true",
                       auth_extra="failure_limit = 0")


def start_front(directory: Path, issuer: BenchIssuer, https_port: int, templates: Path) -> Stack:
    """App + nginx (from `templates`) at https://localhost:`https_port`; the CSP lets OHIF reach the issuer."""
    return start_stack("nginx", directory, policy(issuer), server_name=SERVER_NAME, https_port=https_port,
                       api_rate=API_RATE, template_dir=templates, csp_connect_extra=origin_of(issuer.url))


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


def start_slicerweb(work: Path, study: BenchStudy, issuer: BenchIssuer, https_port: int) -> Front:
    """Import the study (`slicerweb dicom import`), then start app + nginx."""
    loader = SlicerWebServer(work)
    loaded, _ = loader.bulk_load(study.directory)
    if loaded != study.slices:
        raise RuntimeError(f"SlicerWeb: imported {loaded} of {study.slices} instances")
    return Front("SlicerWeb", start_front(work, issuer, https_port, front_templates(work / "templates")))


def start_orthanc(work: Path, study: BenchStudy, issuer: BenchIssuer, https_port: int) -> Front:
    """Start Orthanc, load the study over REST, then start app + nginx with /dicom sent to Orthanc."""
    orthanc = FrontedOrthanc(work / "orthanc", public_host=f"{SERVER_NAME}:{https_port}")
    orthanc.start()
    try:
        loaded, _ = orthanc.bulk_load(study.directory)
        if loaded != study.slices:
            raise RuntimeError(f"Orthanc: loaded {loaded} of {study.slices} instances")
        templates = front_templates(work / "templates", f"127.0.0.1:{orthanc.port}")
        stack = start_front(work / "front", issuer, https_port, templates)
    except (RuntimeError, subprocess.SubprocessError):
        orthanc.stop()
        raise
    return Front("Orthanc", stack, orthanc, orthanc.version)
