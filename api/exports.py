"""Exports that open right in Chinese Excel: .xlsx, or CSV with a byte-order mark; Chinese headers, local times.

A supervisor's spreadsheet is evidence handed to a discipline committee: columns
named as they say them, instants in Beijing time (``2026-11-22 09:33:31``, the
zone configured for display), record kinds and colours in words.  One column
spec per export says what each column holds; CSV and xlsx are written from it.
"""

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse
from openpyxl import Workbook

from rules.directory import Directory
from rules.records import KIND_TITLES
from rules.timeutil import parse_instant

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff".encode()
Column = tuple[str, str, str]  # (field, header, how: "text", "time", "kind", "colour" or "number")
Sheet = tuple[str, list[Column], Iterable[dict[str, Any]]]  # (title, columns, rows)
COLOUR_TITLES = {"green": "绿", "blue": "蓝", "yellow": "黄", "orange": "橙", "red": "红"}


def local_time(value: Any, utc_offset: int) -> str:
    """An RFC 3339 instant (or epoch seconds) as local wall-clock time, ``YYYY-MM-DD HH:MM:SS``."""
    if value is None or value == "":
        return ""
    t = value if isinstance(value, int) else parse_instant(value)
    zone = timezone(timedelta(seconds=utc_offset))
    return datetime.fromtimestamp(t, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def named(rows: Iterable[dict[str, Any]], directory: Directory) -> list[dict[str, Any]]:
    """Rows with the names of their agency and official beside the codes (``rules.directory``)."""
    return [{**r, "agency_name": directory.agency(r.get("agency_id")) or "",
             "handler_name": directory.official(r.get("handler_id")) or ""} for r in rows]  # fmt: skip


async def named_stream(rows: AsyncIterator[dict[str, Any]], directory: Directory) -> AsyncIterator[dict[str, Any]]:
    async for r in rows:
        yield named([r], directory)[0]


def cell(row: dict[str, Any], column: Column, utc_offset: int) -> Any:
    field, _, how = column
    value = row.get(field)
    if how == "time":
        return local_time(value, utc_offset)
    if how == "kind":
        return KIND_TITLES.get(str(value), value)
    if how == "colour":
        return COLOUR_TITLES.get(str(value), value)
    if how == "number":
        return value
    if isinstance(value, list | dict):
        return "; ".join(map(str, value)) if isinstance(value, list) else str(value)
    return "" if value is None else value


def _disposition(filename: str) -> dict[str, str]:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"}


def csv_stream(rows: AsyncIterator[dict[str, Any]], columns: list[Column], utc_offset: int, filename: str) -> Response:
    """Streams any number of rows; Excel reads the byte-order mark as UTF-8."""

    async def body() -> AsyncIterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow([c[1] for c in columns])
        yield BOM + buf.getvalue().encode()
        buf.seek(0)
        buf.truncate()
        n = 0
        async for row in rows:
            writer.writerow([cell(row, c, utc_offset) for c in columns])
            n += 1
            if n % 1000 == 0:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode()

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=_disposition(filename))


def xlsx(
    sheets: Iterable[tuple[str, list[Column], Iterable[dict[str, Any]]]], utc_offset: int, filename: str
) -> Response:
    """A workbook of one or more sheets (written in constant memory per row with openpyxl's write-only mode)."""
    book = Workbook(write_only=True)
    for title, columns, rows in sheets:
        sheet = book.create_sheet(title=title[:31])
        sheet.append([c[1] for c in columns])
        for row in rows:
            sheet.append([cell(row, c, utc_offset) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), media_type=XLSX, headers=_disposition(filename))


async def collected(rows: AsyncIterator[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """An export held in memory for a workbook, refused beyond ``limit`` rows (then use CSV, which streams)."""
    from rules.errors import TooLarge

    out = []
    async for row in rows:
        out.append(row)
        if len(out) > limit:
            raise TooLarge(f"超过 {limit} 行，无法导出为 xlsx：请缩小时间范围，或用 format=csv（流式导出）")
    return out


def tabular(
    fmt: str, rows: list[dict[str, Any]], columns: list[Column], utc_offset: int, filename: str, title: str
) -> Response | None:
    """``rows`` as the format asked for, or None for JSON (the caller answers with its own model)."""
    if fmt == "xlsx":
        return xlsx([(title, columns, rows)], utc_offset, f"{filename}.xlsx")
    if fmt == "csv":

        async def each() -> AsyncIterator[dict[str, Any]]:
            for r in rows:
                yield r

        return csv_stream(each(), columns, utc_offset, f"{filename}.csv")
    return None
