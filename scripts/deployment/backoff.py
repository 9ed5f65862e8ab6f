"""When ``up --restart-dead`` restarts a component that died: at once after a death that ends a long run, later
and later while it keeps dying soon after each start (a crash loop), as a container runtime backs off.

A component that dies within ``stable_after`` seconds of its start is in a crash loop: its next restart waits
``first_wait``, then twice as long after each further quick death, up to ``max_wait``. A component that ran for
``stable_after`` seconds or more is restarted at once, and its back-off starts over.

Example::

    backoff = RestartBackoff()
    backoff.on_death("triggerer", ran_for=3600.0, now=0.0)   # 0.0: restart now
    backoff.on_death("triggerer", ran_for=2.0, now=10.0)     # 15.0: restart in 5 s
    backoff.due(now=15.0)                                     # ['triggerer']
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RestartBackoff:
    """Each dead component's restart time, from how long it ran and how often it died quickly in a row.

    Example::

        backoff = RestartBackoff(first_wait=5.0, max_wait=120.0, stable_after=60.0)
        restart_at = backoff.on_death("worker-1", ran_for=1.5, now=time.monotonic())
    """

    first_wait: float = 5.0
    max_wait: float = 120.0
    stable_after: float = 60.0
    #: Quick deaths in a row, by component (reset by a run of ``stable_after`` seconds).
    quick_deaths: dict[str, int] = field(default_factory=dict)
    #: When each dead component is to be restarted (``time.monotonic()`` seconds).
    scheduled: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.first_wait <= self.max_wait:
            raise ValueError(f"need 0 < first_wait <= max_wait, got {self.first_wait} and {self.max_wait}")
        if not self.stable_after > 0:
            raise ValueError(f"stable_after must be > 0, got {self.stable_after}")

    def on_death(self, name: str, *, ran_for: float, now: float) -> float:
        """Record that ``name`` died after running ``ran_for`` seconds; return when to restart it."""
        if ran_for >= self.stable_after:
            self.quick_deaths[name] = 0
            wait = 0.0
        else:
            previous = self.quick_deaths.get(name, 0)
            self.quick_deaths[name] = previous + 1
            wait = min(self.first_wait * 2**previous, self.max_wait)
        self.scheduled[name] = now + wait
        return now + wait

    def due(self, *, now: float) -> list[str]:
        """The components whose restart time has come, in name order; they are no longer scheduled."""
        names = sorted(name for name, at in self.scheduled.items() if at <= now)
        for name in names:
            del self.scheduled[name]
        return names

    def forget(self, name: str) -> None:
        """``name`` was started by other means (a ``restart`` request): drop its scheduled restart."""
        self.scheduled.pop(name, None)
