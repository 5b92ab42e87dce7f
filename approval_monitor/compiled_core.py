"""The engine compiled with mypyc from its own source, used only while it is that source's build.

Replay judged a history at 28–38× the time of reading and parsing it in pure
Python (issue 16 aims at 25×); the profile was flat — many small objects per
event, no hot spot left. mypyc compiles the same modules to C: one engine, one
source, no second implementation. The build lives out of the tree
(``build/core``) and is put in front of the packages' import paths only when
the digest it was built from matches the sources and interpreter now, and only
before any of its modules is imported: an edited module is never shadowed by a
stale build, and a process never mixes compiled and interpreted halves.
``APPROVAL_MONITOR_COMPILED_CORE=0`` keeps a process on the pure-Python modules.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "core"
STAMP = BUILD / "SOURCE_DIGEST"
ENV = "APPROVAL_MONITOR_COMPILED_CORE"

# The replay's hot path and everything it calls per event (the rule pack's objects included).
MODULES = (
    "rules/calendar.py",
    "rules/clocks.py",
    "rules/days.py",
    "rules/dueindex.py",
    "rules/engine.py",
    "rules/events.py",
    "rules/firing.py",
    "rules/pack.py",
    "rules/planning.py",
    "rules/records.py",
    "rules/replay.py",
    "rules/state.py",
    "rules/timeutil.py",
    "rules/workflow.py",
    "approval_monitor/event_sort.py",
    "approval_monitor/replay_job.py",
)


def source_digest() -> str:
    """What a build depends on: the interpreter and every module of the packages it compiles from (compiled
    code calls the others, ``approval_monitor.packs`` among them, trusting their declared types)."""
    h = hashlib.sha256(f"{sys.implementation.cache_tag}\0{sys.platform}\0".encode())
    paths = sorted(
        p.relative_to(ROOT).as_posix() for d in ("rules", "approval_monitor") for p in (ROOT / d).glob("*.py")
    )
    for rel in paths:
        h.update(rel.encode() + b"\0" + (ROOT / rel).read_bytes() + b"\0")
    return h.hexdigest()


def is_fresh() -> bool:
    try:
        return STAMP.read_text().split()[0] == source_digest()
    except (OSError, IndexError):
        return False


def engage() -> bool:
    """Put a fresh build in front of ``rules`` and ``approval_monitor``; ``False`` (pure Python) otherwise."""
    if os.environ.get(ENV, "1") == "0" or not STAMP.exists():
        return False
    names = [m.removesuffix(".py").replace("/", ".") for m in MODULES]
    if any(n in sys.modules for n in names) or not is_fresh():
        return False
    import approval_monitor
    import rules

    rules.__path__.insert(0, str(BUILD / "rules"))
    approval_monitor.__path__.insert(0, str(BUILD / "approval_monitor"))
    sys.path.append(str(BUILD))  # mypyc's shared library of the build, a top-level module
    return True


def build() -> Path:
    """Compile ``MODULES`` with mypyc into ``BUILD`` (replacing it) and stamp it with the sources' digest."""
    from mypyc.build import mypycify
    from setuptools import Distribution  # type: ignore[import-untyped]

    digest = source_digest()
    with tempfile.TemporaryDirectory(prefix="am-core-") as tmp:
        out = Path(tmp) / "lib"
        cwd = os.getcwd()
        os.chdir(ROOT)  # mypy resolves the packages from here; the C it writes goes to the scratch directory
        try:
            ext = mypycify(list(MODULES), opt_level="3", target_dir=str(Path(tmp) / "c"))
            dist = Distribution({"name": "approval-monitor-core", "ext_modules": ext})
            cmd = dist.get_command_obj("build_ext")
            cmd.build_lib, cmd.build_temp, cmd.inplace = str(out), str(Path(tmp) / "o"), False
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
        shutil.rmtree(BUILD, ignore_errors=True)
        shutil.copytree(out, BUILD)
    STAMP.write_text(digest + "\n")
    return BUILD


def main() -> None:
    """``deploy/test.sh``: build when the sources changed since the last build, else say it is fresh."""
    if is_fresh():
        print(f"compiled core: fresh ({BUILD})")
    else:
        print(f"compiled core: building {len(MODULES)} modules with mypyc ...", flush=True)
        print(f"compiled core: built ({build()})")
