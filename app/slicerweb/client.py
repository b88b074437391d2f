"""A small Python client for the Slicer REST API, with slicerio's function names.

slicerio 1.4.0 hard-codes `http://127.0.0.1:<port>`, sends no headers and verifies nothing, so it
cannot reach a server behind the TLS proxy. `Client` offers the same calls (`file_load`,
`file_save`, `node_names`, `node_ids`, `node_properties`, `node_reload`, `node_remove`,
`is_server_running`, `stop_server`) over HTTP or HTTPS, with a CA bundle and a bearer token:

    from slicerweb.client import Client
    slicer = Client("https://slicer.hospital.lan", token=os.environ["SLICERWEB_TOKEN"],
                    ca_file="/etc/ssl/hospital-ca.pem")
    ids = slicer.file_load("/data/MRHead.nrrd")
    slicer.file_save("/data/out.nrrd", name="MRHead", properties={"useCompression": False})

Errors raise `SlicerWebError` carrying the status and the server's `message`. Only the standard
library is used (no proxies from the environment: requests to the LAN go where they are told).
"""

from __future__ import annotations

import contextlib
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:2016"


class SlicerWebError(RuntimeError):
    """A failed request: `status` (0 when the server could not be reached) and the server's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Client:
    """Talks to one SlicerWeb (or Slicer WebServer) instance."""

    def __init__(self, base_url: str = DEFAULT_URL, *, token: str | None = None, ca_file: str | None = None,
                 timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        context = ssl.create_default_context(cafile=ca_file) if self.base_url.startswith("https:") else None
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    # --- transport ---------------------------------------------------------------------------
    def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: bytes | None = None,
                timeout: float | None = None) -> tuple[int, str, bytes]:
        """One request; returns (status, content type, body). Raises SlicerWebError on failure."""
        query = urllib.parse.urlencode({k: str(v) for k, v in (params or {}).items() if v is not None},
                                       quote_via=urllib.parse.quote)
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        headers = {"Accept": "application/json, */*", "User-Agent": "slicerweb-client"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=body if body is not None else b"" if method != "GET" else None,
                                         headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            message = f"HTTP {exc.code}"
            if exc.headers.get("Content-Type", "").startswith("application/json"):
                with contextlib.suppress(ValueError, AttributeError):
                    message = json.loads(payload).get("message", message)
            raise SlicerWebError(exc.code, message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise SlicerWebError(0, f"cannot reach {self.base_url}: {exc}") from None

    def _json(self, method: str, path: str, params: dict[str, Any] | None = None, body: bytes | None = None) -> Any:
        _, _, payload = self.request(method, path, params, body)
        return json.loads(payload)

    @staticmethod
    def _selection(name: str | None, id: str | None, class_name: str | None) -> dict[str, Any]:
        return {"name": name or None, "id": id or None, "class": class_name or None}

    # --- slicerio's functions ------------------------------------------------------------------
    def is_server_running(self) -> bool:
        try:
            return "applicationName" in self._json("GET", "/slicer/system/version")
        except (SlicerWebError, ValueError, TypeError):
            return False

    def stop_server(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._json("DELETE", "/slicer/system")
        return answer

    def file_load(self, file_path: str, file_type: str | None = None,
                  properties: dict[str, Any] | None = None) -> list[str]:
        """Load a server-side file (path) or an http(s) URL; return the loaded node ids."""
        scheme = urllib.parse.urlparse(str(file_path)).scheme
        if scheme == "slicer":
            opened: list[str] = self._json("POST", "/slicer/open", {"url": file_path}).get("loadedNodeIDs", [])
            return opened
        key = "url" if scheme in ("http", "https") else "localfile"
        params = {key: str(file_path), "filetype": file_type or "VolumeFile", **(properties or {})}
        loaded: list[str] = self._json("POST", "/slicer/mrml", params).get("loadedNodeIDs", [])
        return loaded

    def file_save(self, file_path: str, name: str | None = None, id: str | None = None,
                  class_name: str | None = None, properties: dict[str, Any] | None = None) -> None:
        self._json("GET", "/slicer/mrml/file", {"localfile": str(file_path),
                                                **self._selection(name, id, class_name), **(properties or {})})

    def node_names(self, name: str | None = None, id: str | None = None, class_name: str | None = None) -> list[str]:
        names: list[str] = self._json("GET", "/slicer/mrml/names", self._selection(name, id, class_name))
        return names

    def node_ids(self, name: str | None = None, id: str | None = None, class_name: str | None = None) -> list[str]:
        ids: list[str] = self._json("GET", "/slicer/mrml/ids", self._selection(name, id, class_name))
        return ids

    def node_properties(self, name: str | None = None, id: str | None = None,
                        class_name: str | None = None) -> list[dict[str, Any]]:
        return list(self._json("GET", "/slicer/mrml/properties", self._selection(name, id, class_name)).values())

    def node_reload(self, name: str | None = None, id: str | None = None, class_name: str | None = None) -> None:
        self._json("PUT", "/slicer/mrml", self._selection(name, id, class_name))

    def node_remove(self, name: str | None = None, id: str | None = None, class_name: str | None = None) -> None:
        self._json("DELETE", "/slicer/mrml", self._selection(name, id, class_name))

    # --- beyond slicerio -------------------------------------------------------------------------
    def volume_download(self, id: str | None = None) -> bytes:
        """A volume as NRRD bytes (`GET /slicer/volume`)."""
        return self.request("GET", "/slicer/volume", {"id": id})[2]

    def volume_upload(self, nrrd: bytes, id: str | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = self._json("POST", "/slicer/volume", {"id": id}, nrrd)
        return answer

    def execute(self, source: str) -> Any:
        """Run Python on the server (needs exec on and the exec scope); return `__execResult`."""
        return self._json("POST", "/slicer/exec", None, source.encode("utf-8"))
