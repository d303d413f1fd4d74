"""Full garbage collections are paused during long jobs, and the settings always come back."""

from __future__ import annotations

import gc

import pytest

from sync.master import heap


def _collections_while(build) -> list[int]:
    """The generations the collector started on while `build()` ran."""
    started: list[int] = []

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(note)
    try:
        build()
    finally:
        gc.callbacks.remove(note)
    return started


def test_young_generations_are_collected_but_never_the_whole_heap():
    gc.collect()
    # CPython starts a full pass once the objects that survived to the old generation since
    # the last one exceed a quarter of those it kept then: make sure this many do.
    count = max(200_000, len(gc.get_objects()) // 2)
    kept = []

    def many_long_lived() -> None:
        kept.append([[i] for i in range(count)])

    with heap.young_collections_only():
        inside = _collections_while(many_long_lived)
    outside = _collections_while(many_long_lived)

    assert 0 in inside and 2 not in inside
    assert 2 in outside  # the same work without the pause scans the whole heap


def test_the_collector_settings_come_back_even_after_an_error():
    before = gc.get_threshold()
    seen = []

    def failing_job() -> None:
        with heap.young_collections_only():
            seen.append(gc.get_threshold())
            raise RuntimeError("the job failed")

    with pytest.raises(RuntimeError):
        failing_job()
    assert seen == [(*before[:2], heap.NEVER)]
    assert gc.get_threshold() == before
