"""The worker's commit rules, applied by its Faust consumer (:class:`stream.transport.Consumer`).

Faust commits the acked offsets on a timer, on rebalance and on shutdown. Here a commit

* waits for the batch in flight (:class:`BatchGate`, :func:`ready_to_commit`): the state
  store flushes just before each commit, and must not flush half a batch; and does not happen
  once the producer is stopping;
* flushes no state before the sends of the batches before it are delivered
  (:class:`stream.deliveries.Deliveries`);
* stops at a hole and never covers a partition the worker does not own (:func:`new_offset`,
  :class:`Ownership`);
* reaches Kafka only once every changelog write before it is acked (:func:`changelog_written`).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from faust.transport.consumer import Consumer as FaustConsumer

from stream.deliveries import Deliveries
from stream.slicing import yield_turns
from stream.state import owned_partitions

__all__ = ["BatchGate", "Ownership", "changelog_written", "new_offset", "ready_to_commit",
           "skipped"]

#: how long a commit waits for the changelog writes before it (not committed after that: the
#: next commit waits again, and a crash meanwhile replays from the commit before)
CHANGELOG_ACK_TIMEOUT = 30.0
#: seconds of flush steps before a commit at most (batches run between them), until what is
#: left takes about one step (a day close dirties every series: 100k states, ~4 s of steps;
#: steps until none is left ran all the time under a steady load)
FLUSH_BUDGET = 20.0
#: seconds between two flush steps, for the batch that came during a step to take the gate
#: before the next step: back to back, a commit's 3-4 steps held a batch up ~70 ms
FLUSH_PAUSE = 0.005


class BatchGate:
    """Commits wait for the batch in progress.

    Faust commits on a timer, on rebalance and on shutdown, and just before each commit the
    state store flushes the states changed since the last one. A batch that is half applied
    (its state changed, its dead letters not yet delivered) must not be flushed or committed:
    the worker's consumer (:mod:`stream.transport`) waits for it before every commit.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def run(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[None]:
        """Run one batch (or a sweep, :mod:`stream.sweep`, or a commit's turn,
        :func:`ready_to_commit`) as a task that commits wait for, once the one run before it
        is over: they never overlap."""
        before = self._task

        async def in_turn() -> None:
            if before is not None and not before.done():
                await asyncio.wait([before])
            await coro

        self._task = asyncio.ensure_future(in_turn())
        return self._task

    async def hold(self) -> Callable[[], None]:
        """A turn that lasts until the function returned is called: once the task before it
        is over, no batch, flush step or sweep chunk runs until then (a commit's own flush
        and its choice of offsets, :func:`ready_to_commit`). Cancelled while it waits for
        its turn, the turn is given back as soon as it comes."""
        loop = asyncio.get_running_loop()
        entered, done = loop.create_future(), asyncio.Event()

        async def holding() -> None:
            if not entered.done():
                entered.set_result(None)
            await done.wait()

        self.run(holding())
        try:
            await entered
        except BaseException:
            done.set()
            raise
        return done.set

    def latest(self) -> bool:
        """Whether the task calling this is the last one run (no batch waits behind it)."""
        return self._task is not None and asyncio.current_task() is self._task

    def idle(self) -> bool:
        """No batch is in progress."""
        return self._task is None or self._task.done()

    async def wait_idle(self) -> None:
        if self._task is not None and not self.idle():
            await asyncio.wait([self._task])


class Ownership:
    """The topic partitions whose offsets this worker may commit, and how far.

    None from the start of a rebalance (Faust's eager protocol revokes every partition first;
    the rebalance sensor of :mod:`stream.group` calls :meth:`revoke_all` synchronously, before
    any late ack) until its end (:meth:`assign`, once the streams are sought back to their
    committed offsets). The agent applies only messages of owned partitions.

    Faust acks every message of a batch once the batch is over, applied or not, and an acked
    offset is committed. So the agent tells which messages it took but did not apply
    (:meth:`skip`: fetched before the assignment, after a hole, or in a batch that a rebalance
    overtook, whose states are dropped): the worker's consumer acks them without recording
    their offsets (:func:`skipped`), the commit stops before them and they come again. And it
    tells where each partition's reading started (:meth:`started_at`): a commit never starts
    past it, even while Faust knows no committed offset.

    >>> from types import SimpleNamespace
    >>> owned = Ownership()
    >>> owned.assign(SimpleNamespace(_acked={}, _acked_index={}), {("sales", 0)})
    >>> owned.started_at(("sales", 0), 120)
    >>> owned.started_at(("sales", 0), 180)  # later batches: the first start stays
    >>> owned.start(("sales", 0)), owned.start(("sales", 1))
    (120, None)
    """

    def __init__(self) -> None:
        self.tps: set[Any] = set()
        #: changes at every revoke and assignment: a batch that saw it change applied nothing
        self.epoch = 0
        self._starts: dict[Any, int] = {}
        self._skipped: weakref.WeakSet[Any] = weakref.WeakSet()
        self._resend: set[Any] = set()  # partitions skipped while not owned
        self.unowned: Counter[Any] = Counter()  # messages skipped so, by topic partition

    def revoke_all(self) -> None:
        self.tps = set()
        self._starts.clear()
        self._resend.clear()
        self.epoch += 1

    def assign(self, consumer: Any, tps: Any) -> None:
        """Own ``tps`` from now on; acks Faust kept for them from before are dropped (a
        batch that ran during the rebalance applied nothing: its messages come again)."""
        self.tps = set(tps)
        self._starts.clear()
        self.epoch += 1
        for tp in self.tps:
            consumer._acked.pop(tp, None)
            consumer._acked_index.pop(tp, None)

    def started_at(self, tp: Any, offset: int) -> None:
        """The agent reads ``tp`` from ``offset`` (its committed offset, or the log's start);
        the first call of an assignment counts."""
        self._starts.setdefault(tp, offset)

    def start(self, tp: Any) -> int | None:
        """Where reading ``tp`` started in this assignment; ``None`` before the agent saw it."""
        return self._starts.get(tp)

    def skip(self, message: Any) -> None:
        """The agent took ``message`` but did not apply it: it must come again."""
        self._skipped.add(message)
        if message.tp not in self.tps:  # Faust fetched it before the assignment ended
            self._resend.add(message.tp)
            self.unowned[message.tp] += 1

    def to_resend(self) -> set[Any]:
        """Owned partitions whose messages were skipped while the assignment was under way
        (Faust resumes fetching before it ends): Faust reads on past them, so the agent seeks
        these back (asked once)."""
        owned, self._resend = self._resend & self.tps, self._resend - self.tps
        return owned

    def again(self, tps: Any) -> None:  # of to_resend, not all sought back: asked next time
        self._resend |= set(tps)

    def take_skipped(self, message: Any) -> bool:
        """Whether ``message`` was skipped (asked once, when Faust acks it)."""
        if message in self._skipped:
            self._skipped.discard(message)
            return True
        return False


def skipped(consumer: Any, message: Any) -> bool:
    """Faust acks ``message``: when the agent skipped it, mark it acked without recording its
    offset (so no commit passes it) and return ``True``."""
    ownership = getattr(consumer.app, "ownership", None)
    if ownership is None or not ownership.take_skipped(message):
        return False
    message.acked = True
    consumer._unacked_messages.discard(message)
    return True


async def ready_to_commit(app: Any, budget: float = FLUSH_BUDGET) -> Callable[[], None] | None:
    """Before a commit: the batch in flight ends first (a turn of the :class:`BatchGate`);
    then ``None`` when the producer is stopping (a shutdown): the state store's flush could no
    longer reach the changelog, so nothing is committed and a restart replays from the last
    commit. Else the state store flushes its dirty states in steps of about 20 ms, each a task
    of the gate (a batch waits for one step at most: after each the flush pauses for
    ``FLUSH_PAUSE``, and a batch that came meanwhile runs first;
    :meth:`stream.state.StateStore.flush_step`), until what is left takes about one step
    (:meth:`~stream.state.StateStore.few_dirty`). Past ``budget`` seconds of steps, the rest
    runs as one task of the gate, with the event loop free between steps: batches wait for
    it, Kafka's heartbeats and fetches do not. Then, once every send so far is delivered
    (:class:`Deliveries`), the commit takes the gate once the task before it is over
    (:meth:`BatchGate.hold`), waits for the sends of the batches that ran meanwhile and
    flushes what they dirtied, in steps again; what it returns gives the gate back, which the
    worker's consumer does once its own flush (:meth:`~stream.state.StateStore.
    on_commit_initiated`) and its choice of offsets are done: they never see half a batch.
    It does not wait for the gate to be idle (under a backlog a soak went 10.5 minutes
    without a commit) nor for a sweep (:mod:`stream.sweep`) to end."""
    gate = getattr(app, "batch_gate", None)
    sent: Deliveries | None = getattr(app, "deliveries", None)
    if gate is not None:
        await gate.run(asyncio.sleep(0))  # a turn (see below)
    if app.producer.should_stop:
        return None
    store = getattr(app, "state_store", None)

    async def step() -> None:  # a task of the gate: no batch sends or puts meanwhile
        if sent is not None:
            await sent.delivered()
        if store is not None:
            await store.flush_step(lambda: owned_partitions(app))

    async def steps(more: Callable[[], bool]) -> None:  # in one task of the gate
        while more():
            await step()
            await yield_turns()  # heartbeats and fetches, not batches

    def many() -> bool:
        return (store is not None and not app.producer.should_stop
                and store.has_dirty(owned_partitions(app)) and not store.few_dirty())

    deadline = time.monotonic() + budget
    while gate is not None and many() and time.monotonic() < deadline:
        await gate.run(step())
        await asyncio.sleep(FLUSH_PAUSE)
    if gate is not None and many():  # past the budget: every step in one task of the gate
        await gate.run(steps(many))
    # a batch that came during the last pause is over, and no batch starts until the commit
    # has flushed and chosen its offsets (the consumer calls the release then)
    if sent is not None:  # most of them before the hold: batches go on meanwhile
        await sent.delivered()
    release = await gate.hold() if gate is not None else (lambda: None)
    try:
        if sent is not None:  # the sends of the batches meanwhile; then what they dirtied
            await sent.delivered()  # (under a backlog, thousands of states: 280-360 ms of
        await steps(many)  # the consumer's own flush at a 100k day close, now one step)
    except BaseException:
        release()
        raise
    if app.producer.should_stop:
        release()
        return None
    return release


async def changelog_written(app: Any, timeout: float = CHANGELOG_ACK_TIMEOUT) -> bool:
    """Just before offsets go to Kafka: ``True`` once every state the store flushed is acked
    by the changelog (:meth:`stream.state.StateStore.written`), ``False`` if that takes
    longer than ``timeout`` (nothing is committed then)."""
    store = getattr(app, "state_store", None)
    return True if store is None else bool(await store.written(timeout))


def new_offset(self: Any, tp: Any) -> int | None:
    """Never commit past an offset that was fetched but not acked.

    Faust commits the first run of consecutive acked offsets, and its check that the run starts
    at the committed offset is off by one (a single lost message right at the committed offset
    is committed over) and skipped when nothing was committed yet. A message its stream dropped
    is then lost for good; here the commit waits at the hole instead, until
    :mod:`stream.continuity` has the agent seek back and apply it.

    And never commit a partition this worker does not own (:class:`Ownership`): Faust keeps
    the acks of a batch that finished after its partition was revoked and commits them, past
    what the partition's new owner restored from the changelog.
    """
    ownership = getattr(self.app, "ownership", None)
    if ownership is not None and tp not in ownership.tps:  # acks of a late batch
        self._acked.pop(tp, None)
        self._acked_index.pop(tp, None)
        return None
    acked = self._acked.get(tp)
    committed = self._committed_offset.get(tp)
    if acked and not self._gap.get(tp):
        if ownership is not None:  # the commit starts where the agent started reading
            start = ownership.start(tp)
            if start is None or min(acked) > max(committed or 0, start):
                return None
        elif committed is not None and min(acked) > committed:
            return None
    return FaustConsumer._new_offset(self, tp)
