"""Reading a rule pack or a directory from a file: the core parses text (``rules.pack``, ``rules.directory``);
files are read up here."""

from __future__ import annotations

from pathlib import Path

from rules.directory import Directory, parse_directory
from rules.errors import BadInput
from rules.pack import PackError, RulePack, parse_pack


def load_pack(path: str | Path) -> RulePack:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise PackError(str(p), [f"cannot read the file: {e.strerror}"]) from None
    except UnicodeDecodeError:
        raise PackError(str(p), ["the file is not UTF-8 text"]) from None
    return parse_pack(text, str(p))


def load_directory(path: str | Path | None) -> Directory:
    """Names of agencies and officials; none (codes shown as they are) without a file."""
    if path is None:
        return Directory()
    p = Path(path)
    try:
        return parse_directory(p.read_text(encoding="utf-8"), str(p))
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(
            f"directory {p}: cannot read it ({e}); set APPROVAL_MONITOR_DIRECTORY to a UTF-8 YAML file"
        ) from None
