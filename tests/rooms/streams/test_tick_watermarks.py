"""A tick fires only once every input of its partition is judged up to where it ended when the tick was sent:
an event already in Kafka then is applied before the overdue it disproves could be raised."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from support.judges import offline_judge
from support.live import QUICK_PACK

from streams.judging import Judge
from streams.positions import Positions


class _Wakes:
    def __init__(self) -> None:
        self.woken: list[tuple[bytes, int]] = []

    def wake(self, key: bytes, partition: int) -> None:
        self.woken.append((key, partition))


def _with_actions(tmp_path: Path) -> Judge:
    path = tmp_path / "quick.yaml"
    path.write_text(QUICK_PACK)
    judge = offline_judge(path)
    actions = Positions("actions", "127.0.0.1:9", "test", 2**21)
    judge.feeds["actions"] = (actions, b"actions:%d")
    for pos, _ in judge.feeds.values():
        pos.assign(1, 10, 10)  # live: owned, nothing to catch up
    return judge


def _tick(cases: list[str], after: dict[str, int]) -> Any:
    import orjson

    return SimpleNamespace(partition=1, offset=0, value=orjson.dumps({"cases": cases, "after": after}))


def test_a_tick_waits_for_the_events_that_were_in_kafka_when_it_was_sent(tmp_path: Path) -> None:
    judge = _with_actions(tmp_path)
    judge.hold(_tick(["A"], {"events": 12, "actions": 10}))
    wakes = _Wakes()
    judge._fire_ready_ticks(wakes)  # type: ignore[arg-type]
    assert wakes.woken == [] and len(judge.held) == 1  # events 10 and 11 not judged yet
    judge.feeds["events"][0].advance(1, 10)
    judge._fire_ready_ticks(wakes)  # type: ignore[arg-type]
    assert wakes.woken == []
    judge.feeds["events"][0].advance(1, 11)
    judge._fire_ready_ticks(wakes)  # type: ignore[arg-type]
    assert wakes.woken == [(b"A", 1)] and judge.held == []


def test_ticks_of_a_partition_given_away_are_dropped_and_old_ticks_fire_at_once(tmp_path: Path) -> None:
    judge = _with_actions(tmp_path)
    judge.hold(_tick(["A"], {"events": 99, "actions": 10}))
    judge.revoked({1})
    assert judge.held == []
    for pos, _ in judge.feeds.values():
        pos.assign(1, 10, 10)
    old = SimpleNamespace(partition=1, offset=0, value=b'["B"]')  # written before ticks carried offsets
    judge.hold(old)
    judge.hold(SimpleNamespace(partition=1, offset=1, value=b"\\xff"))  # not the worker's
    wakes = _Wakes()
    judge._fire_ready_ticks(wakes)  # type: ignore[arg-type]
    assert wakes.woken == [(b"B", 1)] and judge.held == []


def test_a_tick_held_for_offsets_never_delivered_sends_the_partition_to_be_read_directly(tmp_path: Path) -> None:
    judge = _with_actions(tmp_path)
    events = judge.feeds["events"][0]
    judge.hold(_tick(["A"], {"events": 15, "actions": 10}))
    judge.chase_held_ticks(after=60)
    assert judge.stalled(after=60) == []  # not held long enough
    judge.held = [(p, c, a, since - 120) for p, c, a, since in judge.held]  # held two minutes, consumer idle
    judge.last_input -= 120
    events.progress_at[1] -= 120
    assert judge.stalled(after=60) == []  # held long enough, but not yet chased
    judge.chase_held_ticks(after=60)
    assert judge.stalled(after=60) == [("events", 1)] and not judge.live(1)
    for offset in range(10, 15):  # what the direct read judges
        events.advance(1, offset)
    wakes = _Wakes()
    judge._fire_ready_ticks(wakes)  # type: ignore[arg-type]
    assert judge.live(1) and wakes.woken == [(b"A", 1)]
