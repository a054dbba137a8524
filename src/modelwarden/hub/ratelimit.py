"""One request budget shared by every worker of a crawl (docs/crawl.md "Rate limits and etiquette").

`Schedule` hands out send times `1 / rate` seconds apart (a token bucket holding one token: the
generic cell rate algorithm), so however many workers ask, the hub sees at most `rate` requests a
second. A `Retry-After` (or a backoff) received by any worker moves the next free time past the wait:
every worker holds until then, not only the one that was throttled. `LocalLimiter` is the schedule for
threads of one process; on Ray the schedule lives in one actor (`ray_budget`) and `ActorLimiter` asks it
from each task. Ray is imported only by the functions that need it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A budget below this is a typo (one request every 100 s would crawl nothing).
MIN_RATE = 0.01


@dataclass
class BudgetStats:
    """What a budget has handed out."""

    granted: int = 0
    """Requests allowed to go."""
    pauses: int = 0
    """Times the hub asked every worker to wait."""
    paused_seconds: float = 0.0
    """Total of the waits asked (overlapping waits counted each)."""


class Schedule:
    """Send times at least `1 / rate` seconds apart; `pause` pushes the next one past a wait."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate >= MIN_RATE:  # also refuses NaN
            raise ValueError(f"a request rate must be at least {MIN_RATE}/s, not {rate}")
        self._interval = 1.0 / rate
        self._clock = clock
        self._next = 0.0
        self.stats = BudgetStats()

    def reserve(self) -> float:
        """Claim the next send time; return how long the caller must wait for it (seconds, ≥ 0)."""
        now = self._clock()
        at = max(now, self._next)
        self._next = at + self._interval
        self.stats.granted += 1
        return at - now

    def pause(self, seconds: float) -> None:
        """No send time is handed out before `seconds` from now."""
        self._next = max(self._next, self._clock() + max(0.0, seconds))
        self.stats.pauses += 1
        self.stats.paused_seconds += max(0.0, seconds)

    def snapshot(self) -> BudgetStats:
        """A copy of the counters."""
        return BudgetStats(self.stats.granted, self.stats.pauses, self.stats.paused_seconds)


class LocalLimiter:
    """A `Schedule` shared by the threads of one process (the `Limiter` protocol of hub/remote.py)."""

    def __init__(self, rate: float, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.schedule = Schedule(rate)
        self._lock = threading.Lock()
        self._sleep = sleep

    def acquire(self) -> None:
        """Wait for the next send time."""
        with self._lock:
            wait = self.schedule.reserve()
        if wait > 0:
            self._sleep(wait)

    def pause(self, seconds: float, *, throttled: bool = True) -> None:
        """Hold every caller for `seconds`."""
        with self._lock:
            self.schedule.pause(seconds)


class ActorLimiter:
    """The `Limiter` a Ray task (or the driver) uses: asks the budget actor for each send time.

    The actor only computes times (it never sleeps), so one actor serves any number of workers; the
    caller sleeps for its own slot."""

    def __init__(self, actor: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._actor = actor
        self._sleep = sleep
        self.requests = 0
        """Requests this limiter let go (this task's share of the budget)."""
        self.pauses = 0
        """Waits this task's answers asked of every worker (429, 5xx, transport errors)."""
        self.throttled = 0
        """Answers `429 Too Many Requests` this task received."""

    def acquire(self) -> None:
        """Wait for the next send time the budget actor hands out."""
        import ray

        wait = float(ray.get(self._actor.reserve.remote()))
        self.requests += 1
        if wait > 0:
            self._sleep(wait)

    def pause(self, seconds: float, *, throttled: bool = True) -> None:
        """Tell the budget actor that every worker must wait `seconds`."""
        import ray

        self.pauses += 1
        self.throttled += int(throttled)
        ray.get(self._actor.pause.remote(seconds))


def ray_budget(rate: float) -> Any:
    """A new budget actor (a `Schedule` in one Ray actor, holding no CPU): its handle."""
    import ray

    Schedule(rate)  # a bad rate is refused here, before an actor is started
    actor_class = ray.remote(num_cpus=0)(Schedule)  # one call at a time
    return actor_class.remote(rate)
