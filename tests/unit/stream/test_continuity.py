"""Offset continuity in the agent, and the commit that never passes a hole."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from types import SimpleNamespace

from intervaltree import IntervalTree

from stream.commits import Ownership, new_offset
from stream.continuity import Admission, OffsetContinuity


def test_a_partition_starts_at_the_committed_offset_and_stops_at_the_first_hole() -> None:
    c = OffsetContinuity()
    assert c.admit(3, [10, 11, 13, 14], committed=10) == Admission(2, 12)
    assert c.expected(3) == 12
    assert c.admit(3, [13, 14], committed=None) == Admission(0, None)  # fetched before the seek
    assert c.admit(3, [12, 13, 14], committed=None) == Admission(3, None)
    assert c.expected(3) == 15


def test_a_hole_before_the_first_message_is_found_too() -> None:
    c = OffsetContinuity()
    assert c.admit(0, [4, 5], committed=3) == Admission(0, 3)
    assert c.expected(0) == 3


def test_a_committed_offset_learnt_later_moves_the_expected_offset_up() -> None:
    # the first batch of an assignment can come before Faust has read the committed offset
    c = OffsetContinuity()
    assert c.admit(0, [0], committed=None) == Admission(1, None)
    assert c.admit(0, [1200, 1201], committed=1200) == Admission(2, None)
    assert c.expected(0) == 1202


def test_replays_below_the_expected_offset_pass_and_partitions_are_independent() -> None:
    c = OffsetContinuity()
    c.admit(0, [0, 1, 2], committed=0)
    assert c.admit(0, [1, 2, 3], committed=None) == Admission(3, None)
    assert c.admit(1, [7], committed=None) == Admission(1, None)  # nothing to check against
    assert c.expected(0) == 4 and c.expected(1) == 8


def test_a_gap_faust_saw_in_the_log_is_accepted_and_forget_starts_over() -> None:
    c = OffsetContinuity()
    c.admit(0, [0], committed=0)
    assert c.admit(0, [5], committed=None, known_gap=lambda a, b: (a, b) == (1, 5)) == (
        Admission(1, None))
    c.forget()
    assert c.expected(0) is None


def _consumer(acked: list[int], committed: int | None) -> SimpleNamespace:
    tp = ("t", 0)
    return SimpleNamespace(
        _acked=defaultdict(list, {tp: list(acked)}),
        _acked_index=defaultdict(set, {tp: set(acked)}),
        _committed_offset=defaultdict(lambda: None, {tp: committed}),
        _gap=defaultdict(IntervalTree),
        app=SimpleNamespace(),  # no ownership: every partition may be committed
    )


def test_the_commit_waits_at_a_single_lost_message_at_the_committed_offset() -> None:
    # Faust alone commits 25 here: offset 22 was fetched, dropped, never acked
    assert new_offset(_consumer([23, 24], committed=22), ("t", 0)) is None


def test_the_commit_advances_over_a_contiguous_run() -> None:
    assert new_offset(_consumer([22, 23, 24], committed=22), ("t", 0)) == 25
    assert new_offset(_consumer([0, 1], committed=None), ("t", 0)) == 2


def test_acks_of_a_partition_not_owned_are_dropped_not_committed() -> None:
    """A batch that finished after its partition was revoked: its acks must not move the
    committed offset past what the partition's new owner restored."""
    owned, given_away = Ownership(), ("t", 0)
    consumer = _consumer([22, 23], committed=22)
    consumer.app = SimpleNamespace(ownership=owned)
    owned.assign(consumer, {("t", 1)})
    assert new_offset(consumer, given_away) is None
    assert given_away not in consumer._acked and given_away not in consumer._acked_index
    consumer._acked[given_away] = [22, 23]  # acked during the rebalance (nothing applied)
    owned.assign(consumer, {("t", 0)})
    assert not consumer._acked[given_away]  # ... dropped: they come again from 22
    consumer._acked[given_away] = [22, 23]
    owned.started_at(given_away, 22)
    assert new_offset(consumer, given_away) == 24
    owned.revoke_all()  # a rebalance starts: nothing is committed until the assignment
    assert new_offset(consumer, given_away) is None


def test_no_commit_once_the_producer_is_stopping() -> None:
    """A shutdown: the state store's flush could no longer reach the changelog."""
    import asyncio

    from stream.commits import BatchGate, ready_to_commit

    app = SimpleNamespace(batch_gate=BatchGate(), producer=SimpleNamespace(should_stop=False))
    assert asyncio.run(ready_to_commit(app))
    app.producer.should_stop = True
    assert not asyncio.run(ready_to_commit(app))


def test_a_batch_that_came_during_a_flush_step_runs_before_the_next_step() -> None:
    """A commit's flush runs in steps; back to back, 4-7 of them held a batch up ~70 ms."""
    import asyncio
    import time

    from stream.commits import BatchGate, ready_to_commit

    order: list[str] = []

    class Store:
        dirty = 3

        def has_dirty(self, owned: object) -> bool:
            return self.dirty > 0

        def few_dirty(self) -> bool:
            return False  # a step packs less than what is left, down to the last

        async def flush_step(self, owned: object) -> None:
            order.append(f"step {self.dirty}")
            self.dirty -= 1
            time.sleep(0.01)  # a step holds the loop
            if self.dirty == 2:  # the first step's: a batch is ready 2 ms after it (its
                # messages came during the step, and reach the agent once the loop runs)
                asyncio.get_running_loop().call_later(
                    0.002, lambda: gate.run(asyncio.sleep(0, order.append("batch"))))

    gate = BatchGate()
    app = SimpleNamespace(batch_gate=gate, state_store=Store(), ownership=Ownership(),
                          producer=SimpleNamespace(should_stop=False))
    assert asyncio.run(ready_to_commit(app))
    assert order == ["step 3", "batch", "step 2", "step 1"]


def test_the_commit_waits_for_the_batch_that_came_during_the_last_pause() -> None:
    """The steps stop once few states are left; a batch that took the gate during the pause
    after the last step is over before the commit's own flush and its choice of offsets."""
    import asyncio

    from stream.commits import BatchGate, ready_to_commit

    order: list[str] = []
    gate = BatchGate()

    async def batch() -> None:
        order.append("batch starts")
        await asyncio.sleep(0.02)  # its sends and Redis writes
        order.append("batch ends")

    class Store:
        steps = 0

        def has_dirty(self, owned: object) -> bool:
            return True

        def few_dirty(self) -> bool:
            return self.steps > 0  # one step leaves what one step takes

        async def flush_step(self, owned: object) -> None:
            order.append("step")
            self.steps += 1
            asyncio.get_running_loop().call_soon(lambda: gate.run(batch()))

    app = SimpleNamespace(batch_gate=gate, state_store=Store(), ownership=Ownership(),
                          producer=SimpleNamespace(should_stop=False))

    async def commit() -> None:
        assert await ready_to_commit(app)
        order.append("commit")

    asyncio.run(commit())
    assert order == ["step", "batch starts", "batch ends", "commit"]


def test_what_batches_dirtied_while_the_commit_waited_is_flushed_in_steps() -> None:
    """Under a backlog batches run while a commit waits for the sends and for its turn, and
    dirty thousands of states, which the consumer's own flush packed at once (a 100k-series
    day close: 280-360 ms of the event loop). The commit, holding the gate, flushes them in
    steps first, down to what one step takes."""
    import asyncio

    from stream.commits import BatchGate, ready_to_commit

    order: list[str] = []
    gate = BatchGate()

    class Store:
        dirty = 1  # few: no step before the commit's turn

        def has_dirty(self, owned: object) -> bool:
            return self.dirty > 0

        def few_dirty(self) -> bool:
            return self.dirty <= 1  # a step packs one state

        async def flush_step(self, owned: object) -> None:
            order.append(f"step {self.dirty}")
            self.dirty -= 1

    class Sent:
        calls = 0

        async def delivered(self) -> None:  # a batch comes while the commit waits for sends
            self.calls += 1
            if self.calls == 1:
                gate.run(batch())
            await asyncio.sleep(0)

    store = Store()

    async def batch() -> None:
        order.append("batch")
        store.dirty += 4

    app = SimpleNamespace(batch_gate=gate, state_store=store, deliveries=Sent(),
                          ownership=Ownership(), producer=SimpleNamespace(should_stop=False))

    async def commit() -> None:
        release = await ready_to_commit(app)
        assert release is not None
        order.append(f"commit's own flush: {store.dirty}")
        release()

    asyncio.run(commit())
    assert order == ["batch", "step 5", "step 4", "step 3", "step 2", "commit's own flush: 1"]


def test_no_state_is_flushed_before_the_sends_of_the_batches_before_it_are_delivered() -> None:
    """Batches do not wait for their own sends (dead letters, aggregate reports, ...): a flush
    step waits for every send so far before it packs, and the commit returns (its own flush
    runs next, with no await between) only once the sends of the last batches are delivered
    too. A state flushed before its batch's sends were delivered would, after a crash, make
    the replay skip the batch and send nothing again."""
    import asyncio

    from stream.commits import BatchGate, ready_to_commit
    from stream.deliveries import Deliveries

    order: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate, sent = BatchGate(), Deliveries()
        first, second = loop.create_future(), loop.create_future()
        sent.add([first])  # a batch's report, not delivered yet

        class Store:
            steps = 0

            def has_dirty(self, owned: object) -> bool:
                return self.steps < 2

            def few_dirty(self) -> bool:
                return self.steps >= 2

            async def flush_step(self, owned: object) -> None:
                order.append(f"step {self.steps}")
                self.steps += 1
                if self.steps == 2:  # a batch after the last step sends again
                    sent.add([second])
                    loop.call_later(0.01, lambda: (order.append("second delivered"),
                                                   second.set_result(None)))

        loop.call_later(0.01, lambda: (order.append("first delivered"), first.set_result(None)))
        app = SimpleNamespace(batch_gate=gate, deliveries=sent, state_store=Store(),
                              ownership=Ownership(), producer=SimpleNamespace(should_stop=False))
        assert await ready_to_commit(app)
        order.append("commit")

    asyncio.run(main())
    assert order == ["first delivered", "step 0", "step 1", "second delivered", "commit"]


def _owned(acked: list[int], committed: int | None) -> tuple[SimpleNamespace, Ownership]:
    owned = Ownership()
    consumer = _consumer(acked, committed)
    consumer.app = SimpleNamespace(ownership=owned)
    owned.assign(consumer, {("t", 0)})
    consumer._acked[("t", 0)] = list(acked)
    return consumer, owned


def test_with_nothing_committed_the_commit_starts_where_the_agent_started_reading() -> None:
    """Faust alone commits 102 here: offsets 0..99 were taken before the assignment ended,
    skipped, and never applied (the kill -9 replay lost a whole partition this way)."""
    consumer, owned = _owned([100, 101], committed=None)
    assert new_offset(consumer, ("t", 0)) is None  # the agent has not read the partition yet
    owned.started_at(("t", 0), 0)
    assert new_offset(consumer, ("t", 0)) is None  # 0..99 first
    consumer._acked[("t", 0)] = list(range(102))
    assert new_offset(consumer, ("t", 0)) == 102


def test_the_log_start_raises_where_the_commit_may_start() -> None:
    consumer, owned = _owned([500, 501], committed=None)  # retention deleted 0..499
    owned.started_at(("t", 0), 500)
    assert new_offset(consumer, ("t", 0)) == 502


class _Message:
    """What Faust's consumer reads of a message when it is acked."""

    def __init__(self, offset: int) -> None:
        self.tp, self.offset, self.topic = ("t", 0), offset, "t"
        self.acked, self.refcount = False, 0


def test_a_skipped_message_is_acked_without_its_offset_being_recorded() -> None:
    from stream.commits import skipped

    consumer, owned = _owned([], committed=None)
    consumer._unacked_messages = set()
    taken, applied = _Message(0), _Message(1)
    consumer._unacked_messages.update({taken, applied})
    owned.skip(taken)
    assert skipped(consumer, taken)
    assert taken.acked and taken not in consumer._unacked_messages
    assert not skipped(consumer, taken)  # asked once
    assert not skipped(consumer, applied)
    assert not applied.acked  # Faust records this one


def test_every_revoke_and_assignment_moves_the_epoch_and_forgets_the_starts() -> None:
    consumer, owned = _owned([], committed=None)
    owned.started_at(("t", 0), 7)
    epoch = owned.epoch
    owned.revoke_all()
    assert owned.epoch == epoch + 1 and owned.start(("t", 0)) is None
    owned.assign(consumer, {("t", 0)})
    assert owned.epoch == epoch + 2


def test_partitions_skipped_before_the_assignment_are_resent_once_owned() -> None:
    consumer, owned = _owned([], committed=None)
    owned.revoke_all()
    early, elsewhere = _Message(0), _Message(0)
    elsewhere.tp = ("t", 1)
    owned.skip(early)  # fetched after Faust's seek, before the assignment ended
    owned.skip(elsewhere)
    assert owned.to_resend() == set()  # nothing owned yet
    owned.assign(consumer, {("t", 0)})
    assert owned.to_resend() == {("t", 0)}
    assert owned.to_resend() == set()  # asked once
    owned.skip(_Message(5))  # cut after a hole of an owned partition: continuity seeks it
    assert owned.to_resend() == set()


def test_before_a_commit_the_store_flushes_in_steps_each_a_task_of_the_gate() -> None:
    """A batch queued meanwhile runs between two steps of the flush, never in one."""
    import asyncio

    from stream.commits import BatchGate, ready_to_commit

    seen: list[str] = []

    class Store:
        dirty = ["s:A", "s:B", "p:0"]

        def has_dirty(self, owned: set[int] | None) -> bool:
            return bool(self.dirty)

        def few_dirty(self) -> bool:
            return False

        async def flush_step(self, owned: Callable[[], set[int] | None]) -> None:
            seen.append(f"step {sorted(owned() or [])}")
            if len(self.dirty) == 3:  # a batch comes in the middle of the first step
                app.batch_gate.run(batch())
            await asyncio.sleep(0)
            seen.append(f"flushed {self.dirty.pop(0)}")

    async def batch() -> None:
        seen.append("batch")

    app = SimpleNamespace(batch_gate=BatchGate(), state_store=Store(),
                          producer=SimpleNamespace(should_stop=False),
                          ownership=SimpleNamespace(tps=[SimpleNamespace(partition=3)]))

    async def main() -> bool:
        return await ready_to_commit(app)

    assert asyncio.run(main())
    assert seen == ["step [3]", "flushed s:A", "batch", "step [3]", "flushed s:B", "step [3]",
                    "flushed p:0"]


def test_a_commit_flushes_in_steps_until_one_step_is_left_or_its_budget_is_spent() -> None:
    """A day close dirties every series at once: the steps go on past any fixed count (after
    100 of them, the commit's own flush wrote the other ~50k states at once: a 2 s stall),
    until what is left takes one step (the commit's own flush writes it: under a steady load,
    stepping until nothing was left kept a step running all the time). Past the budget the
    steps go on in one task of the gate (batches wait, the event loop does not): the
    commit's own flush had packed the rest at once, 2-4 s with 100k states dirty."""
    import asyncio

    from stream.commits import BatchGate, ready_to_commit

    class Store:
        def __init__(self, dirty: int, per_step: int) -> None:
            self.dirty, self.per_step, self.steps = dirty, per_step, 0

        def has_dirty(self, owned: object) -> bool:
            return self.dirty > 0

        async def flush_step(self, owned: object) -> None:
            self.dirty, self.steps = max(0, self.dirty - self.per_step), self.steps + 1

        def few_dirty(self) -> bool:
            return self.dirty <= self.per_step

    def app(store: Store) -> SimpleNamespace:
        return SimpleNamespace(batch_gate=BatchGate(), state_store=store, ownership=Ownership(),
                               producer=SimpleNamespace(should_stop=False))

    many = Store(3_000, per_step=10)
    assert asyncio.run(ready_to_commit(app(many)))
    assert many.steps == 299 and many.dirty == 10  # 100 steps would have left 2,000
    few = Store(5, per_step=10)
    assert asyncio.run(ready_to_commit(app(few))) and few.steps == 0  # the commit's flush
    spent = Store(1_000, per_step=1)
    spent_app = app(spent)
    turns: list[int] = []
    run = spent_app.batch_gate.run
    spent_app.batch_gate.run = lambda coro: (turns.append(spent.steps), run(coro))[1]
    assert asyncio.run(ready_to_commit(spent_app, budget=0.0))
    # its first turn of the gate (for the batch in flight), then every step in one, then the
    # turn it holds for the commit
    assert spent.steps == 999 and spent.dirty == 1 and turns == [0, 0, 999]


def test_a_commit_is_not_starved_by_a_backlog_and_no_batch_runs_until_it_is_over() -> None:
    """Under a backlog the agent queues the next batch as soon as one ends. The commit waited
    for the gate to be idle, which it never was: a soak went 10.5 minutes without a commit
    (a crash then replays all of it). It now holds the gate: the batch in flight ends, the
    next waits for the commit."""
    import asyncio

    from stream.commits import BatchGate, ready_to_commit

    order: list[str] = []

    async def main() -> None:
        gate = BatchGate()
        app = SimpleNamespace(batch_gate=gate, ownership=Ownership(),
                              producer=SimpleNamespace(should_stop=False))

        async def batch(n: int) -> None:
            order.append(f"batch {n}")
            await asyncio.sleep(0.001)  # its sends and Redis writes

        async def agent() -> None:  # the backlog: a batch queued as soon as one ends
            for n in range(1000):
                await gate.run(batch(n))

        backlog = asyncio.ensure_future(agent())
        await asyncio.sleep(0.01)
        release = await asyncio.wait_for(ready_to_commit(app), 1.0)
        assert release is not None
        order.append("commit")
        await asyncio.sleep(0.01)  # the commit's own flush and its offsets
        order.append("committed")
        release()
        await asyncio.sleep(0.01)
        backlog.cancel()

    asyncio.run(main())
    at = order.index("commit")
    assert order[at + 1] == "committed" and order[at + 2].startswith("batch")
    assert 2 < at < 50 and len(order) > at + 5


def test_a_commit_takes_a_turn_of_the_gate_so_that_a_sweep_stops_after_its_chunk() -> None:
    """A sweep goes on chunk after chunk while no other task waits for the gate, each chunk
    dirtying hundreds of states. A commit that waited for the gate to be idle waited for the
    whole pass (100k states) and then packed every state at once: a stall of seconds. It
    takes a turn instead: the sweep stops after its chunk, and the steps flush it."""
    import asyncio

    from stream.commits import BatchGate, ready_to_commit

    order: list[str] = []
    gate = BatchGate()

    class Store:
        dirty, per_step = 0, 10

        def has_dirty(self, owned: object) -> bool:
            return self.dirty > 0

        def few_dirty(self) -> bool:
            return self.dirty <= self.per_step

        async def flush_step(self, owned: object) -> None:
            order.append(f"step {self.dirty}")
            self.dirty = max(0, self.dirty - self.per_step)

    store = Store()

    async def sweep() -> None:  # chunks while no other task of the gate waits
        while gate.latest():
            store.dirty += 15
            order.append("chunk")
            await asyncio.sleep(0.001)

    async def main() -> None:
        gate.run(sweep())
        await asyncio.sleep(0.002)
        app = SimpleNamespace(batch_gate=gate, state_store=store, ownership=Ownership(),
                              producer=SimpleNamespace(should_stop=False))
        assert await ready_to_commit(app)
        order.append(f"commit {store.dirty}")

    asyncio.run(asyncio.wait_for(main(), 10))
    chunks = order.count("chunk")  # the sweep stopped at the commit's first turn
    assert chunks >= 1 and order[:chunks] == ["chunk"] * chunks
    dirty = 15 * chunks
    steps = [o for o in order[chunks:-1]]
    assert steps == [f"step {dirty - 10 * i}" for i in range(len(steps))] and steps
    assert order[-1] == f"commit {dirty - 10 * len(steps)}" and dirty - 10 * len(steps) <= 10
