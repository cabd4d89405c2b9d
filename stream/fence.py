"""Which fetched records a seek made stale, judged where aiokafka hands them out.

:class:`stream.transport.Consumer` seeks a partition back in Faust's consumer thread while
that thread may be draining a fetch; the records drained from the old position before the
seek was done must not reach the agent, and those drained after it must (the module doc of
:mod:`stream.transport` says why both matter). A seek is numbered when it is asked for and
recorded as done in the consumer thread, which marks each fetch's records with the seeks done
when it drained them (:class:`Fetched`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Fetched", "SeekFence"]


class Fetched(dict[Any, Any]):
    """A fetch's records by partition, and the :meth:`SeekFence.mark` they were drained at."""

    def __init__(self, records: Any, mark: dict[Any, int]) -> None:
        super().__init__(records)
        self.mark = mark


class SeekFence:
    """Which fetched records a seek made stale: those of a partition that aiokafka handed out
    before the partition's last seek asked for was done (it had read them from the old
    position). Seeks are numbered as they are asked for (the agent's thread) and recorded as
    done where aiokafka runs (the consumer thread), which marks each fetch's records as it
    drains them.

    >>> fence = SeekFence()
    >>> n = fence.ask("p0")  # the agent seeks p0 back
    >>> early = fence.mark()  # a fetch drains records before the seek is done
    >>> fence.done("p0", n)
    >>> late = fence.mark()  # and the next one those refetched from the new position
    >>> fence.stale("p0", early), fence.stale("p1", early), fence.stale("p0", late)
    (True, False, False)
    """

    def __init__(self) -> None:
        self._asked: dict[Any, int] = {}
        self._done: dict[Any, int] = {}

    def ask(self, tp: Any) -> int:
        """A seek of ``tp`` is asked for: its number."""
        self._asked[tp] = number = self._asked.get(tp, 0) + 1
        return number

    def done(self, tp: Any, number: int) -> None:
        """Seek ``number`` of ``tp`` is done (or failed: nothing will come from it)."""
        self._done[tp] = max(self._done.get(tp, 0), number)

    def mark(self) -> dict[Any, int]:
        """Taken as a fetch's records are drained: the seeks done by then."""
        return dict(self._done)

    def stale(self, tp: Any, mark: dict[Any, int] | None) -> bool:
        """Whether a record of ``tp`` drained at ``mark`` came before a seek asked for since
        (``None``: a fetch that was not marked, never stale)."""
        return mark is not None and not self.after(tp, mark, self._asked.get(tp, 0))

    @staticmethod
    def after(tp: Any, mark: dict[Any, int], number: int) -> bool:
        """Whether a record of ``tp`` drained at ``mark`` was drained after seek ``number``
        of ``tp`` was done (0: no seek)."""
        return mark.get(tp, 0) >= number
