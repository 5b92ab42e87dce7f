"""Reading a rule pack from a file: the core parses text (``rules.pack.parse_pack``); files are read up here."""

from __future__ import annotations

from pathlib import Path

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
