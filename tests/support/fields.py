"""Values for every field of a class, each of its declared type and different from the others.

The engine's hot classes write their initializers out (for the compiled core,
``approval_monitor.compiled_core``), and compiled classes check the type of
every value they are given and keep no text of their annotations: the types
are read from the source.
"""

from __future__ import annotations

import ast
import dataclasses
from decimal import Decimal

from rules.pack import RulePack
from rules.state import StepClock
from rules.workflow import Work
from support import ROOT


def declared(cls: type) -> dict[str, str]:
    """Each field's annotation as written in the source."""
    source = ROOT / (cls.__module__.replace(".", "/") + ".py")
    tree = ast.parse(source.read_text())
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    return {
        a.target.id: ast.unparse(a.annotation)
        for a in node.body
        if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name)
    }


def distinct_values(cls: type, pack: RulePack | None = None) -> dict[str, object]:
    """Field name -> a value of its declared type, no two alike (an ``Item`` field needs ``pack``)."""
    hints = declared(cls)
    return {f.name: _value(hints[f.name], i, pack) for i, f in enumerate(dataclasses.fields(cls))}


def _value(hint: str, i: int, pack: RulePack | None) -> object:
    for prefix, value in (("dict[", {f"k{i}": i}), ("list[", [(i, i)]), ("set[", {f"v{i}"})):
        if hint.startswith(prefix):
            return value
    if "StepClock" in hint:
        return StepClock(i, f"h{i}")
    if "Item" in hint:
        assert pack is not None, "an Item field needs a pack"
        return next(iter(pack.versions.values()))[0]
    if "Work" in hint:
        return Work(done={f"a{i}"})
    if "Decimal" in hint:
        return Decimal(i) + Decimal("0.25")
    if "bytes" in hint:
        return f"v{i}".encode()
    return 1000 + i if "int" in hint else f"v{i}"
