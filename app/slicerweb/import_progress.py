"""What `slicerweb dicom import` shows while and after it runs.

On a terminal: a tqdm bar on stderr (files done of the files found, instances/s, ETA). Not on a
terminal (a pipe, a log, cron): no bar, one plain summary line. `--quiet`: nothing but errors.
`--json`: one JSON object on stdout, for scripts. tqdm rather than rich: one small pure-Python
package with no dependencies, and it already switches itself off cleanly when asked.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from .engine.dicom_api import ImportReport


def count_files(directory: Path) -> int:
    """Regular files under `directory` (what the importer will read), for the bar's total and ETA."""
    return sum(1 for folder, _dirs, files in os.walk(directory) for name in files
               if (path := Path(folder) / name).is_file() and not path.is_symlink())


class ImportProgress:
    """Progress callback for `import_directory` plus the final summary."""

    def __init__(self, total: int, *, quiet: bool = False, as_json: bool = False,
                 out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self.as_json = as_json
        self.total = total
        self.started = time.monotonic()
        show_bar = not quiet and not as_json and self.err.isatty()
        # get_terminal_size falls back to $COLUMNS or 80 where a terminal reports no size (tqdm would draw nothing).
        self.bar = tqdm(total=total, unit=" files", file=self.err, disable=not show_bar,
                        ncols=shutil.get_terminal_size().columns, desc="importing", smoothing=0.1)

    def __call__(self, files: int, so_far: ImportReport) -> None:
        self.bar.update(files)
        stored = so_far.imported + so_far.already_present
        rate = stored / max(time.monotonic() - self.started, 1e-6)
        self.bar.set_postfix_str(f"{rate:.0f} inst/s, imported {so_far.imported}, failed {so_far.failed}",
                                 refresh=False)

    def finish(self, report: ImportReport) -> None:
        """Close the bar and print the summary the mode asks for."""
        self.bar.close()
        seconds = time.monotonic() - self.started
        if self.as_json:
            summary = {"files": self.total, "imported": report.imported, "already_present": report.already_present,
                       "skipped": report.skipped, "refused": report.refused, "failed": report.failed,
                       "seconds": round(seconds, 3),
                       "instances_per_second": round((report.imported + report.already_present) / max(seconds, 1e-6),
                                                     1)}
            print(json.dumps(summary), file=self.out)
        elif not self.quiet:
            print(f"imported {report.imported}, already present {report.already_present}, "
                  f"skipped (not DICOM) {report.skipped}, refused (damaged) {report.refused}, "
                  f"failed {report.failed}", file=self.out)
