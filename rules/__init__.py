"""The pure core: events, rule packs, business calendars and the engine.

No I/O, no clocks, no randomness: the same inputs give the same records, which
is what lets ``replay`` (event time) and the live pipeline (wall clock) share it.
"""
