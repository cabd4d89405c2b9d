"""A Redis outage as the worker's sink sees it: since when, when to try again, what to log.

Redis can fail in two ways. It can be gone (stopped, restarting, unreachable): every call
fails, and the sink tries again at every ops tick (once a second) until one answers. Or it
can answer and refuse writes: at ``maxmemory`` with ``noeviction``, or a read-only replica.
Then the tick's health check (``INFO``) answers, the republish that follows fails, and the
worker used to log "redis is back" and "redis is unavailable" every second, and to forecast
a chunk of states for nothing every second, for as long as the limit held.

:class:`Outage` tells the two apart: a failure within :data:`FLAP_S` of Redis seeming back is
a refusal. The next try then waits twice as long as the last (up to :data:`MAX_BACKOFF_S`),
and the refusal is logged once a minute at most, with the count of failed tries. An outage of
the first kind keeps its one-second retries, so a restarted Redis is written again at once.

>>> o = Outage()
>>> o.failed("ConnectionError", now=0.0)[:40]
'redis is unavailable (ConnectionError): '
>>> o.answered(now=1.0)  # INFO answers: try the republish
'redis answers again after 1.0 s'
>>> # the republish's write fails at once
>>> print(o.failed("OutOfMemoryError", now=1.2))  # doctest: +NORMALIZE_WHITESPACE
redis answers but refuses writes (OutOfMemoryError); trying again in 2 s, then less often (up to
every 60 s)
>>> o.may_retry(now=2.0), o.may_retry(now=3.3)
(False, True)
>>> o.answered(now=3.3) is None, o.failed("OutOfMemoryError", now=3.4) is None  # quiet
(True, True)
>>> o.wrote(now=9.0)  # a republish went through
'redis takes writes again after 9.0 s (2 failed tries)'
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

__all__ = ["Outage", "FLAP_S", "MAX_BACKOFF_S", "REPEAT_S"]

log = logging.getLogger("salescast.worker")

FLAP_S = 5.0  #: a failure this soon after Redis answered again: it refuses writes
MAX_BACKOFF_S = 60.0  #: the longest wait between two tries while Redis refuses writes
REPEAT_S = 60.0  #: how often a refusal that goes on is logged again


def _logged(method: Callable[..., str | None]) -> Callable[..., str | None]:
    """``method``'s line, logged as a warning (when there is one)."""
    @wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> str | None:
        line = method(self, *args, **kwargs)
        if line:
            log.warning(line)
        return line
    return call


class Outage:
    """The sink's view of Redis: up, down since ``since``, or refusing writes (``backoff``
    > 0). Each method logs its line, if any, as a warning, and returns it."""

    def __init__(self) -> None:
        self.since: float | None = None  # when the current outage began (None: Redis is up)
        self.began = 0.0  # when the outage that a run of refusals followed began
        self.answered_at: float | None = None  # when Redis last answered after an outage
        self.backoff = 0.0  # seconds between tries while Redis refuses writes (0: it does not)
        self.retry_at = 0.0
        self.tries = 0  # failed tries since the run of refusals began
        self.logged_at = float("-inf")

    @property
    def down(self) -> bool:
        return self.since is not None

    @_logged
    def failed(self, error: str, now: float) -> str | None:
        """A Redis call failed (``error``: its repr)."""
        if self.since is not None:
            return None
        self.since = now
        if self.answered_at is None or now - self.answered_at > FLAP_S:
            self.began, self.tries, self.backoff = now, 0, 0.0
            return (f"redis is unavailable ({error}): going on without it; every series is "
                    "republished when it is back")
        self.tries += 1  # it answered, then refused: wait longer each time
        self.backoff = min(max(2 * self.backoff, 2.0), MAX_BACKOFF_S)
        self.retry_at = now + self.backoff
        if now - self.logged_at < REPEAT_S:
            return None
        self.logged_at = now
        return (f"redis answers but refuses writes ({error}); trying again in "
                f"{self.backoff:.0f} s, then less often (up to every {MAX_BACKOFF_S:.0f} s)"
                if self.tries == 1 else
                f"redis still refuses writes ({error}): {self.tries} failed tries in "
                f"{now - self.began:.0f} s; the next in {self.backoff:.0f} s")

    def may_retry(self, now: float) -> bool:
        """Whether to ask Redis again now (always, unless it refuses writes and the wait
        since the last try is not over)."""
        return self.since is None or self.backoff == 0.0 or now >= self.retry_at

    @_logged
    def answered(self, now: float) -> str | None:
        """Redis answered a health check: the outage is over, unless a write fails soon."""
        if self.since is None:
            return None
        since, self.since, self.answered_at = self.since, None, now
        return None if self.backoff else f"redis answers again after {now - since:.1f} s"

    @_logged
    def wrote(self, now: float) -> str | None:
        """A republish went through: Redis takes writes."""
        self.answered_at = None
        if not self.backoff:
            return None
        began, tries = self.began, self.tries
        self.backoff, self.tries, self.logged_at = 0.0, 0, float("-inf")
        return (f"redis takes writes again after {now - began:.1f} s ({tries} failed "
                f"{'try' if tries == 1 else 'tries'})")
