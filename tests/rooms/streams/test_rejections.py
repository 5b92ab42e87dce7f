"""Rejections keep the input's exact bytes and always fit the rejected topic; positions never run ahead."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import orjson
import pytest

from rules.events import Rejection, parse_line, raw_bytes, raw_fields
from streams.positions import GAP, JUDGE, SKIP, Positions
from streams.rejections import HEAD_BYTES, rejection_message, too_large

LIMIT = 2_097_152

POISON = {
    "empty": b"",
    "not utf-8": b"\xff\xfe" + bytes(range(256)) * 4,
    "control bytes": b"\x01" * 400_000,
    "0xff flood": b"\xff" * 900_000,
    "lone surrogate": b'{"event_id": "\\ud800", "case_id": "K", "type": "case_submitted"}',
    "json bomb": b"[" * 100_000 + b"]" * 100_000,
    "text with nul": b'{"event_id": "a\x00b"}',
    "valid text": '{"event_id": "一", "case_id": "办件"'.encode(),
}


def _msg(value: bytes | None, key: bytes | None = b"K") -> SimpleNamespace:
    return SimpleNamespace(topic="events", partition=3, offset=41, key=key, value=value)


@pytest.mark.parametrize("name", sorted(POISON))
def test_every_input_is_kept_with_its_exact_bytes(name: str) -> None:
    raw = POISON[name]
    got = parse_line(raw, 41)
    assert isinstance(got, Rejection) and got.code in {"bad_json", "empty"} | {"missing_field"}, got
    body = orjson.loads(rejection_message(got, _msg(raw), LIMIT))
    assert raw_bytes(body) == raw
    assert (body["topic"], body["partition"], body["offset"]) == ("events", 3, 41)
    assert body["reason"] and body["code"] == got.code


def test_text_stays_readable_and_binary_goes_as_base64() -> None:
    assert raw_fields('{"a": "一"}'.encode()) == {"raw": '{"a": "一"}'}
    assert raw_fields(b"\xff")["raw_encoding"] == "base64"
    assert raw_fields(b"\x01" * 100)["raw_encoding"] == "base64"  # would escape six-fold as JSON text
    assert raw_fields(None) == {"raw": None}


def test_a_binary_key_is_kept_exactly_too() -> None:
    r = Rejection(1, None, None, "bad_json", "x", b"x")
    body = orjson.loads(rejection_message(r, _msg(b"x", key=b"\xff\x00"), LIMIT))
    assert body["key_encoding"] == "base64" and raw_bytes({"raw": body["key"], "raw_encoding": "base64"}) == b"\xff\x00"


def test_an_input_too_large_for_the_topic_keeps_its_head_size_and_hash() -> None:
    raw = bytes(range(256)) * 8192  # 2 MiB of binary: base64 would not fit a 2 MiB topic
    r = too_large(7, len(raw), 65536, raw)
    out = rejection_message(r, _msg(raw), LIMIT)
    assert len(out) <= LIMIT
    body = orjson.loads(out)
    assert body["code"] == "too_large" and "65536" in body["reason"]
    assert body["raw_truncated"] is True and body["raw_size"] == len(raw)
    assert body["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert raw_bytes(body) == raw[:HEAD_BYTES]


def test_an_input_over_the_cap_that_fits_is_kept_whole() -> None:
    raw = b'{"reason": "' + b"x" * 100_000 + b'"}'
    body = orjson.loads(rejection_message(too_large(1, len(raw), 65536, raw), _msg(raw), LIMIT))
    assert body["code"] == "too_large" and raw_bytes(body) == raw and "raw_truncated" not in body


def test_positions_judge_only_the_next_offset() -> None:
    pos = Positions("events", "127.0.0.1:1", "t", 1 << 20)
    assert pos.place(0, 5) == SKIP  # not owned: never judged
    pos.assign(0, next_offset=10, end_offset=13)
    assert not pos.live(0)  # catching up: timers wait
    assert [pos.place(0, o) for o in (9, 10, 11)] == [SKIP, JUDGE, GAP]
    assert pos.advance(0, 10) is False and pos.advance(0, 11) is False
    assert pos.advance(0, 12) is True and pos.live(0)  # reached its end offset at assignment
    assert pos.take_changed() == {0: 13} and pos.take_changed() == {}
    pos.assign(1, next_offset=4, end_offset=4)
    assert pos.live(1)  # nothing to catch up
    pos.drop([0, 1])
    assert pos.place(0, 13) == SKIP and not pos.live(1)


def test_a_stalled_partition_is_reported_only_while_catching_up() -> None:
    pos = Positions("events", "127.0.0.1:1", "t", 1 << 20)
    pos.assign(0, 0, 5)
    pos.assign(1, 0, 0)
    assert pos.stalled(after=0) == [0]
    pos.caught_up(0)
    assert pos.stalled(after=0) == [] and pos.live(0)


def test_replay_keeps_a_line_that_is_not_utf8_byte_for_byte(tmp_path) -> None:
    import io

    from approval_monitor.packs import load_pack
    from approval_monitor.replay_job import replay_file
    from approval_monitor.settings import SAMPLE_PACK

    line = b'{"event_id": "\xc3\x28", "case_id": "K"}'
    rejects = io.BytesIO()
    replay_file(load_pack(SAMPLE_PACK), io.BytesIO(line + b"\n"), 2_000_000_000, io.BytesIO(), rejects)
    (body,) = [orjson.loads(x) for x in rejects.getvalue().splitlines()]
    assert body["code"] == "bad_json" and body["raw_encoding"] == "base64" and raw_bytes(body) == line
