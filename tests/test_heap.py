"""Full garbage collections are paused during long jobs, and the settings always come back."""

from __future__ import annotations

import gc

import pytest

from sync import heap


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


def _many_long_lived() -> list[list[int]]:
    return [[i] for i in range(600_000)]


def test_young_generations_are_collected_but_never_the_whole_heap():
    kept = []
    with heap.young_collections_only():
        inside = _collections_while(lambda: kept.append(_many_long_lived()))
    outside = _collections_while(lambda: kept.append(_many_long_lived()))

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
