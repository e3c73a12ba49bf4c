"""The debounce hint follows the typing rhythm, within bounds."""

from __future__ import annotations

from completion.schedule.rhythm import DEFAULT_MS, MAX_MS, MIN_MS, TypingRhythm


def typed(intervals: list[float]) -> TypingRhythm:
    rhythm, at = TypingRhythm(), 100.0
    rhythm.keystroke(at)
    for interval in intervals:
        at += interval
        rhythm.keystroke(at)
    return rhythm


def test_default_until_there_is_a_rhythm() -> None:
    assert typed([]).debounce_ms() == DEFAULT_MS
    assert typed([0.1, 0.1]).debounce_ms() == DEFAULT_MS


def test_fast_typists_wait_less_than_slow_ones() -> None:
    fast, slow = typed([0.08] * 10).debounce_ms(), typed([0.25] * 10).debounce_ms()
    assert MIN_MS <= fast < slow <= MAX_MS
    assert fast == 120 and slow == 375  # 1.5 typical intervals


def test_pauses_do_not_count_and_bounds_hold() -> None:
    assert typed([0.1, 0.1, 0.1, 5.0, 30.0]).debounce_ms() == 150  # the long gaps are pauses
    assert typed([0.01] * 10).debounce_ms() == MIN_MS
    assert typed([0.9] * 10).debounce_ms() == MAX_MS
