"""Group commit (``streams.group_write``): at once when the store keeps up, grouped when it lags, bounded, in order."""

from __future__ import annotations

import asyncio

import pytest

from streams.group_write import GroupWriter
from streams.sink import Fetch


class Store:
    """A write that waits for the test to let it finish."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def write(self, items: list[str]) -> None:
        self.writes.append(items)
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail


async def _spin() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_lone_item_is_written_at_once_and_what_comes_meanwhile_waits_to_be_written_together() -> None:
    async def go() -> list[list[str]]:
        store = Store()
        writer = GroupWriter(store.write, most=100)
        await writer.put("a", 1)
        await _spin()
        assert store.writes == [["a"]]  # not held back for company
        for item in "bcd":
            await writer.put(item, 1)
        await _spin()
        assert store.writes == [["a"]]  # one write in flight
        store.gate.set()
        await writer.settle()
        return store.writes

    assert asyncio.run(go()) == [["a"], ["b", "c", "d"]]


def test_a_full_queue_holds_the_intake_until_the_write_takes_it() -> None:
    async def go() -> None:
        store = Store()
        writer = GroupWriter(store.write, most=3)
        await writer.put("a", 1)
        await _spin()  # "a" is being written
        await writer.put("b", 2)  # the queue holds 2 of 3
        third = asyncio.ensure_future(writer.put("c", 1))
        await _spin()
        assert not third.done()  # 3 of 3: the intake waits
        store.gate.set()
        await asyncio.wait_for(third, 1)
        await writer.settle()
        assert store.writes == [["a"], ["b", "c"]]

    asyncio.run(go())


def test_a_write_that_fails_fails_the_intake_and_settling() -> None:
    async def go() -> None:
        store = Store()
        writer = GroupWriter(store.write, most=10)
        store.fail = RuntimeError("a bug, not the store away")
        store.gate.set()
        await writer.put("a", 1)
        with pytest.raises(RuntimeError, match="a bug"):
            await writer.settle()
        with pytest.raises(RuntimeError, match="a bug"):
            await writer.put("b", 1)

    asyncio.run(go())


def test_fetches_joined_keep_their_order() -> None:
    one = Fetch([(0, {"id": "r1"})], [{"case_id": "c", "v": 1}], [], [{"id": "d", "v": 1}])
    two = Fetch([(1, {"id": "r2"}), (0, {"id": "r3"})], [{"case_id": "c", "v": 2}], [{"id": "w"}], [])
    joined = Fetch.joined([one, two])
    assert joined.records == [(0, {"id": "r1"}), (1, {"id": "r2"}), (0, {"id": "r3"})]
    assert [c["v"] for c in joined.cases] == [1, 2]  # the later state last: it is the one stored
    assert (joined.work, joined.deliveries) == ([{"id": "w"}], [{"id": "d", "v": 1}])
    assert Fetch.joined([one]) is one
