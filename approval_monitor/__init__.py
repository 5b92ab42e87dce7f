"""The room that reads the environment and assembles processes.

Its first act: the engine's compiled build goes in front of the import paths when it is fresh
(``approval_monitor.compiled_core``), before any module of the engine is imported.
"""

from __future__ import annotations

from approval_monitor.compiled_core import engage

COMPILED_CORE = engage()
