"""``up --restart-dead``'s back-off (``scripts/deployment/backoff.py``): at once after a long run, a doubling wait
while a component keeps dying soon after each start, and a fresh start once it ran long enough."""

from __future__ import annotations

import pytest

from scripts.deployment.backoff import RestartBackoff


def test_a_death_after_a_long_run_is_restarted_at_once() -> None:
    backoff = RestartBackoff(first_wait=5.0, max_wait=120.0, stable_after=60.0)
    assert backoff.on_death("triggerer", ran_for=3600.0, now=100.0) == 100.0
    assert backoff.due(now=100.0) == ["triggerer"]
    assert backoff.due(now=101.0) == []  # restarted once, not again


def test_a_crash_loop_waits_longer_each_time_up_to_the_cap() -> None:
    backoff = RestartBackoff(first_wait=5.0, max_wait=120.0, stable_after=60.0)
    waits = []
    now = 0.0
    for _ in range(8):
        restart_at = backoff.on_death("worker-1", ran_for=2.0, now=now)
        waits.append(restart_at - now)
        assert backoff.due(now=restart_at - 0.1) == []  # not before its time
        assert backoff.due(now=restart_at) == ["worker-1"]
        now = restart_at + 2.0  # it runs 2 s and dies again
    assert waits == [5.0, 10.0, 20.0, 40.0, 80.0, 120.0, 120.0, 120.0]


def test_a_long_run_ends_the_crash_loop_and_components_back_off_apart() -> None:
    backoff = RestartBackoff(first_wait=5.0, max_wait=120.0, stable_after=60.0)
    for now in (0.0, 10.0, 30.0):
        backoff.on_death("triggerer", ran_for=1.0, now=now)
    assert backoff.quick_deaths["triggerer"] == 3
    assert backoff.on_death("worker-1", ran_for=1.0, now=30.0) == 35.0  # its own count
    assert backoff.on_death("triggerer", ran_for=600.0, now=1000.0) == 1000.0
    assert backoff.on_death("triggerer", ran_for=1.0, now=1100.0) == 1105.0  # starts over


def test_a_requested_restart_cancels_the_scheduled_one() -> None:
    backoff = RestartBackoff()
    backoff.on_death("triggerer-2", ran_for=1.0, now=0.0)
    backoff.forget("triggerer-2")
    assert backoff.due(now=1000.0) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first_wait": 0.0}, "first_wait"),
        ({"first_wait": 200.0, "max_wait": 100.0}, "max_wait"),
        ({"stable_after": 0.0}, "stable_after"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RestartBackoff(**kwargs)
