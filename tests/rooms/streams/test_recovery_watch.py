"""Which stalled changelog partitions the recovery watch seeks again, and where."""

from __future__ import annotations

from streams.recovery_watch import stalled


def test_only_partitions_with_changelog_left_and_nothing_received_for_long_are_sought() -> None:
    remaining = {"a": 5, "b": 3, "c": 0, "d": 2}
    offsets = {"a": 10, "b": -1, "c": 4, "d": 7}
    last_event = {"d": 95.0}  # d received an event 5 s ago
    got = stalled(remaining, offsets, last_event, started=70.0, kicked={}, now=100.0, after=20.0)
    assert got == {"a": 10, "b": 0}  # -1 (nothing read yet) seeks to the start


def test_a_partition_is_sought_again_only_after_another_quiet_spell() -> None:
    remaining, offsets = {"a": 5}, {"a": 10}
    assert stalled(remaining, offsets, {}, started=70.0, kicked={"a": 90.0}, now=100.0, after=20.0) == {}
    assert stalled(remaining, offsets, {}, started=70.0, kicked={"a": 90.0}, now=110.0, after=20.0) == {"a": 10}
    assert stalled(remaining, offsets, {}, started=90.0, kicked={}, now=100.0, after=20.0) == {}
