"""Third-party endpoint families from the `slicerweb.families` entry-point group.

An entry point names a module attribute `FAMILY = (family_name, policy_flag_or_None, factory)`
where `factory(services) -> Blueprint`; the family is mounted under the same guard, limits, error
model and audit as the built-in ones. `family_name` must be one of the policy's families or use
an existing action model (routes declare their action with `auth.actions.requires`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

GROUP = "slicerweb.families"
log = logging.getLogger("slicerweb.extensions")


def discover() -> list[tuple[str, str | None, Callable[[Any], Any]]]:
    """Load every registered family; a broken plug-in is logged and skipped, never fatal."""
    found = []
    for entry in entry_points(group=GROUP):
        try:
            family, flag, factory = entry.load()
        except Exception:
            log.exception("could not load SlicerWeb extension %s", entry.name)
            continue
        found.append((family, flag, factory))
    return found
