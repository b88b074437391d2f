"""SceneStore: the headless scene's state, thread-safe, with Slicer's id and name rules.

One re-entrant lock guards the node table. Every change (add, replace, remove, clear) happens under
it and swaps whole immutable nodes, so readers, which copy the table under the same lock, see each
node either before or after a change, never half-way. Heavy work (parsing a file, decoding an
upload) happens before taking the lock; `transaction()` groups several changes (an exec step, a
segmentation load) into one.

Ids follow vtkMRMLScene: class name plus a per-class counter that never goes back (`Clear` keeps
it), e.g. `vtkMRMLScalarVolumeNode1`. Names are made unique like `GenerateUniqueName`: `MRHead`,
then `MRHead_1`, `MRHead_2`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..scene_api import GuiState, NodeFilter
from .nodes import Node, VolumeNode, is_a

N = TypeVar("N", bound=Node)


class SceneStore:
    """Node table, active volume and recorded GUI state."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._nodes: dict[str, Node] = {}
        self._counters: dict[str, int] = {}
        self._active_volume: str | None = None
        self._gui = GuiState()

    @contextmanager
    def transaction(self) -> Iterator[SceneStore]:
        """Hold the lock across several changes (readers wait for the whole group)."""
        with self._lock:
            yield self

    # --- reading ---------------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        """All nodes in scene order (a snapshot)."""
        with self._lock:
            return list(self._nodes.values())

    def get(self, node_id: str) -> Node | None:
        with self._lock:
            return self._nodes.get(node_id)

    def select(self, selection: NodeFilter) -> list[Node]:
        """`/mrml` selection: id alone; else class (with subclasses, default all) and exact name."""
        if selection.id:
            node = self.get(selection.id)
            return [node] if node is not None else []
        base = selection.class_name or "vtkMRMLNode"
        return [n for n in self.nodes()
                if is_a(n.class_name, base) and (selection.name is None or n.name == selection.name)]

    def find(self, pattern: str | None, default: str, classes: tuple[str, ...]) -> Node | None:
        """`slicer.util.getNode(pattern)` among nodes of `classes`: first whose name or id matches,
        names before ids as getNode does; `default` is the pattern when none is given."""
        pattern = pattern or default
        candidates = [n for n in self.nodes() if any(is_a(n.class_name, c) for c in classes)]
        for key in ("name", "id"):
            for node in candidates:
                if fnmatch.fnmatchcase(getattr(node, key), pattern):
                    return node
        return None

    @property
    def active_volume(self) -> VolumeNode | None:
        """The volume the slice views show: the selected one, else the first volume."""
        with self._lock:
            node = self._nodes.get(self._active_volume or "")
            if isinstance(node, VolumeNode):
                return node
            return next((n for n in self._nodes.values() if isinstance(n, VolumeNode)), None)

    @property
    def gui(self) -> GuiState:
        return self._gui

    # --- changing --------------------------------------------------------------------------
    def add(self, kind: type[N], name: str, *, unique: bool = True, **fields: Any) -> N:
        """Create a node of `kind` with a fresh id (and a unique name unless `unique=False`)."""
        with self._lock:
            probe = kind.__dataclass_fields__["class_name"].default
            class_name = fields.pop("class_name", probe)
            node_id = self._next_id(class_name)
            node = kind(id=node_id, name=self.unique_name(name) if unique else name,
                        class_name=class_name, **fields)
            self._nodes[node_id] = node
            return node

    def replace(self, node: N, **changes: Any) -> N:
        """Swap in a copy of `node` with `changes` (the node must still be in the scene)."""
        with self._lock:
            current = self._nodes.get(node.id)
            if current is None:
                raise KeyError(node.id)
            updated = dataclasses.replace(current, **changes)
            self._nodes[node.id] = updated
            return updated  # type: ignore[return-value]  # same class as `node`

    def remove(self, node_ids: list[str]) -> list[str]:
        with self._lock:
            removed = [i for i in node_ids if self._nodes.pop(i, None) is not None]
            for node in list(self._nodes.values()):  # children of removed transforms stay, untransformed
                if node.transform_id in removed:
                    self._nodes[node.id] = dataclasses.replace(node, transform_id=None)
            if self._active_volume in removed:
                self._active_volume = None
            return removed

    def clear(self) -> list[str]:
        """`mrmlScene.Clear()`: every node goes; id counters are kept."""
        with self._lock:
            removed = list(self._nodes)
            self._nodes.clear()
            self._active_volume = None
            return removed

    def set_active_volume(self, node_id: str | None) -> None:
        with self._lock:
            self._active_volume = node_id

    def set_gui(self, gui: GuiState) -> None:
        with self._lock:
            self._gui = gui

    def unique_name(self, base: str) -> str:
        """`base` if unused, else `base_1`, `base_2`, ... (vtkMRMLScene::GenerateUniqueName)."""
        with self._lock:
            names = {n.name for n in self._nodes.values()}
            if base not in names:
                return base
            suffix = 1
            while f"{base}_{suffix}" in names:
                suffix += 1
            return f"{base}_{suffix}"

    def _next_id(self, class_name: str) -> str:
        self._counters[class_name] = self._counters.get(class_name, 0) + 1
        return f"{class_name}{self._counters[class_name]}"
