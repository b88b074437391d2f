"""Where the server's log lines go and in what shape: console lines (JSON for journald, or text) and the
access log (console or its own file), and reopening that file on SIGHUP.

JSON console lines are one object per line (`time`, `level`, `logger`, `message`, and `exception` with
the traceback), which journald stores as the message and `jq`/log shippers read without a grok
pattern. Written with the standard library's Formatter (a dozen lines) rather than a dependency such
as python-json-logger: the record has five fields and no configuration.

Rotation is by rename: logrotate renames the file, then sends SIGHUP; `LogFiles.reopen()` closes the
access log's file and the next line creates a new one at the configured path (the handler's lock keeps
a line from being split between the two files). The audit log needs nothing here: its writer opens the path
afresh for every batch (audit.py), so the batch after a rename goes to the new file and no batch is
split. Access lines are JSON already (access_log.py) and pass through unchanged.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .policy import Policy

ACCESS_LOGGER = "slicerweb.access"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ms), level, logger, message[, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str, separators=(",", ":"))


def console_format(policy: Policy) -> str:
    """json or text: the policy's logging.format, with 'auto' meaning json unless stderr is a terminal."""
    chosen = str(policy.logging.format)
    if chosen == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return chosen


@dataclass
class LogFiles:
    """The log files this process writes itself (the access log's, when it has one)."""

    handlers: list[logging.FileHandler] = field(default_factory=list)

    def reopen(self) -> None:
        """SIGHUP: close each file; it reopens at its path on its next line (after logrotate's rename)."""
        for handler in self.handlers:
            handler.acquire()  # the lock emit() holds: a line goes wholly to the old file or the new one
            try:
                if handler.stream is not None:
                    handler.stream.close()
                    handler.stream = None  # FileHandler opens it again when it is None
            finally:
                handler.release()
        logging.getLogger("slicerweb").info("log files reopened (SIGHUP)")


def configure(policy: Policy) -> LogFiles:
    """Install the console and access-log handlers the policy asks for (the `serve` command calls this once);
    returns the files to reopen on SIGHUP."""
    files = LogFiles()
    console: logging.Handler
    if policy.logging.console:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(JsonLineFormatter() if console_format(policy) == "json"
                             else logging.Formatter("%(message)s"))
    else:
        console = logging.NullHandler()
    logging.basicConfig(level=policy.logging.level.upper(), handlers=[console], force=True)
    access = logging.getLogger(ACCESS_LOGGER)
    access.propagate = False
    access.setLevel(logging.INFO)
    access.handlers.clear()
    if not policy.logging.access_log:
        return files
    path = str(policy.logging.access_log_path)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        files.handlers.append(file_handler)
        handler: logging.Handler = file_handler
    else:
        handler = logging.StreamHandler(sys.stderr)
    access.addHandler(handler)
    return files
