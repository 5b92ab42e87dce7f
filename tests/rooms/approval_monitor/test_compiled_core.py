"""The compiled engine is used only as the build of the sources in the tree, all of it or none of it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import approval_monitor
from approval_monitor import compiled_core


def _python(code: str, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        cwd=compiled_core.ROOT,
        env={**os.environ, **env},
    )
    return proc.stdout.strip()


@pytest.mark.skipif(os.environ.get(compiled_core.ENV) == "0", reason="this run is on the pure-Python modules")
def test_the_suite_runs_the_build_of_these_sources() -> None:
    """The test command builds the core first: every test of the engine exercises what replay runs."""
    import rules.engine

    assert compiled_core.is_fresh(), "no build of these sources: ./deploy/test.sh makes it before pytest"
    assert approval_monitor.COMPILED_CORE
    assert rules.engine.__file__ is not None and rules.engine.__file__.startswith(str(compiled_core.BUILD))


def test_a_build_of_other_sources_is_never_used(tmp_path: Path) -> None:
    if not compiled_core.is_fresh():
        pytest.skip("no build to test against")
    out = _python(
        f"""
        import os, sys
        import approval_monitor.compiled_core as c
        from pathlib import Path
        os.environ[c.ENV] = "1"
        stamp = Path({str(tmp_path)!r}) / "stamp"
        stamp.write_text("0" * 64 + "\\n")  # a build of other sources (an edited module, another Python)
        real, c.STAMP = c.STAMP, stamp
        print(c.engage(), "rules.engine" in sys.modules)
        c.STAMP = real
        import rules.state  # one of its modules already imported: compiled and interpreted never mix
        print(c.engage())
        """,
        APPROVAL_MONITOR_COMPILED_CORE="0",
    )
    assert out.split("\n") == ["False False", "False"]


def test_a_fresh_build_is_engaged_unless_turned_off() -> None:
    if not compiled_core.is_fresh():
        pytest.skip("no build to test against")
    code = """
        import approval_monitor, rules.engine
        from rules.timeutil import parse_instant, format_instant
        print(approval_monitor.COMPILED_CORE, rules.engine.__file__.endswith(".py"))
        print(format_instant(parse_instant("2026-03-02T09:00:00+08:00") + 86399))
        """
    compiled = _python(code, APPROVAL_MONITOR_COMPILED_CORE="1").split("\n")
    pure = _python(code, APPROVAL_MONITOR_COMPILED_CORE="0").split("\n")
    assert compiled == ["True False", "2026-03-03T00:59:59Z"]
    assert pure == ["False True", "2026-03-03T00:59:59Z"]
