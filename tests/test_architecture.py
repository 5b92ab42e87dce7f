"""The house has floors, and data flows one way: no module imports a room above its own.

rules (pure core) <- store <- streams <- api <- approval_monitor (the composition root).  Imports
inside functions count too: a lazy import upward is still an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOORS = ["rules", "store", "streams", "api", "approval_monitor"]
PURE_CORE_MAY_IMPORT = {
    "__future__", "base64", "bisect", "collections", "dataclasses", "datetime", "decimal", "difflib",
    "functools", "hashlib", "heapq", "itertools", "math", "re", "time", "typing", "zoneinfo",
    "orjson", "pydantic", "yaml", "rules",
}  # fmt: skip


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("room", FLOORS)
def test_no_room_imports_a_room_above_it(room: str) -> None:
    above = set(FLOORS[FLOORS.index(room) + 1 :])
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / room).rglob("*.py"))
        for line, name in _imports(path)
        if name.split(".")[0] in above
    ]
    assert not upward, "\n".join(upward)


def test_the_core_does_no_io() -> None:
    """rules/ is shared by replay and live: deterministic, no files, sockets, clocks of its own or threads."""
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / "rules").rglob("*.py"))
        for line, name in _imports(path)
        if name.split(".")[0] not in PURE_CORE_MAY_IMPORT
    ]
    assert not found, "\n".join(found)


def test_only_the_root_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for room in FLOORS[:-1]
        for path in sorted((ROOT / room).rglob("*.py"))
        if "os.environ" in path.read_text() or "pydantic_settings" in path.read_text()
    ]
    assert not readers, readers
