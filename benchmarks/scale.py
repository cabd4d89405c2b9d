"""``salescast bench scale``: the worker group on one machine: throughput, rebalance, failover.

In one run, against the local Kafka and Redis:

1. **throughput**: the same synthetic events (8 partitions) processed by a group of 1, then 2
   workers; events/s from the first to the last event the group took, and how the machine's
   CPU time was split between the workers, the broker, Redis and the rest (this machine's
   cores are shared by all of them, so a second worker competes with the broker);
2. **rebalance**: one worker holds ``S`` series (every series with two closed buckets, so one
   model row each; the longest its event loop was held up at a time while it took the events
   and closed the buckets, the day close of every series included: its ``loop_stall_max_ms``)
   on 4 partitions; a second worker joins and recovers half of the partitions
   from the changelog. The figure is the joining worker's rebalance, from its join until it
   serves its partitions (the worker's own :class:`~stream.membership.Membership` clock), and
   the existing worker's;
3. **failover**: then the joined worker is killed with SIGKILL; the figure is the time from
   the kill until the survivor serves every partition again: the broker's session timeout
   (the survivor cannot tell a dead worker from a slow one before it), then the rebalance and
   the changelog recovery of the dead worker's partitions. With ``--standby`` the group runs
   with one standby replica (``SALESCAST_STANDBY_REPLICAS=1``): the survivor already holds a
   warm copy of those tables and only catches up;
4. **memory and restart**: the survivor's RSS holding every series (steps 2-4 run the
   workers with the LSTM off, ``SALESCAST_LSTM=0``: the issue's memory target is without
   torch, which alone adds ~490 MiB); then it is stopped
   (SIGTERM) and a new worker started: the time from its start (interpreter, imports, group
   join, the bulk read of every changelog partition) until it serves every partition.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil
import redis
from rich.console import Console

from benchmarks.pipeline import eager_close_over, keyed, produce
from benchmarks.scale_report import REBALANCE_PARTITIONS, Rebalance, Throughput, report
from config import Settings
from contracts.events import SaleEvent
from infra.procs import child_env, salescast_cmd, spawn, stop
from stream.membership import default_worker_name
from stream.monitor import read_workers
from stream.synthetic import DEFAULT_START, bench_events

__all__ = ["Group", "bench_topics", "run_scale_bench", "series_events"]

DAY = 86400
THROUGHPUT_PARTITIONS = 8


def series_events(n_series: int, start: float = DEFAULT_START) -> Iterator[bytes]:
    """Two events per series, a day apart (in time order), so that every series closes one
    bucket and has a model row; deterministic.

    >>> [json.loads(e)["series"] for e in series_events(2)]
    ['R0', 'R1', 'R0', 'R1']
    """
    for day in (0, 2):  # the second event is past the first bucket's allowed lateness
        step = 40_000 / n_series
        for i in range(n_series):
            yield SaleEvent(f"R{i}", start + day * DAY + i * step, 1, 1.0).to_json()


@dataclass
class Group:
    """Workers of one consumer group on one topic (child processes), and their figures."""

    settings: Settings
    kafka: str
    redis_url: str
    r: redis.Redis
    topic: str
    partitions: int
    standby: int = 0
    lstm: bool = True  # off: the workers never import torch (the RSS target is without it)
    group: str = field(default_factory=lambda: f"bench-scale-{uuid.uuid4().hex[:8]}")
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    retired: list[subprocess.Popen[bytes]] = field(default_factory=list)  # stopped on purpose

    def start(self) -> subprocess.Popen[bytes]:
        env = child_env(self.kafka, self.redis_url, SALESCAST_EVENTS_TOPIC=self.topic,
                        SALESCAST_WORKER_ID=self.group,
                        SALESCAST_PARTITIONS=str(self.partitions),
                        SALESCAST_STANDBY_REPLICAS=str(self.standby),
                        SALESCAST_LSTM="1" if self.lstm else "0")
        log = self.settings.home / "logs" / f"{self.group}-{len(self.procs)}.log"
        proc = spawn(salescast_cmd("worker"), env, log)
        self.procs.append(proc)
        return proc

    def start_and_close(self, n_series: int) -> subprocess.Popen[bytes]:
        """Start a worker; return it once it has taken the ``2 * n_series`` events of
        :func:`series_events` and its eager close of them is over."""
        proc = self.start()
        self.wait(f"{2 * n_series:,} events", lambda: self.events() >= 2 * n_series, 1200)
        since = time.time()  # then every series has closed its first two days
        self.wait("the day close", lambda: eager_close_over(self.figures(proc), since), 600)
        return proc

    def figures(self, proc: subprocess.Popen[bytes]) -> dict[str, str]:
        return read_workers(self.r, time.time()).get(default_worker_name(proc.pid), {})

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def wait(self, check: str, test: object, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if test():  # type: ignore[operator]
                return
            if any(p.poll() not in (None, -9) for p in self.procs if p not in self.retired):
                raise RuntimeError(f"a worker exited during the benchmark (logs: "
                                   f"{self.settings.home / 'logs'}/{self.group}-*.log)")
            time.sleep(0.1)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {check}")

    def events(self) -> int:
        return sum(int(self.figures(p).get("events", 0)) for p in self.live())

    def held(self, proc: subprocess.Popen[bytes]) -> list[int]:
        return [int(x) for x in json.loads(self.figures(proc).get("partitions") or "[]")]

    def serving_all(self) -> bool:
        held = [p for proc in self.live() for p in self.held(proc)]
        return sorted(held) == list(range(self.partitions)) and not any(
            self.figures(p).get("rebalancing") == "1" for p in self.live())

    def retire(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop ``proc`` gracefully (SIGTERM): it leaves the group."""
        self.retired.append(proc)
        stop(proc)

    def close(self) -> None:
        for p in self.procs:
            stop(p)


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each named set of processes."""
    return {name: sum(_cpu_of(pid) for pid in group) for name, group in pids.items()}


def _cpu_of(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system + t.children_user + t.children_system


def _busy() -> float:
    t = psutil.cpu_times()
    return t.user + t.system + t.nice + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def throughput(base: Group, n_workers: int, events: int,
               services: dict[str, list[int]]) -> Throughput:
    """``events`` preloaded on a fresh topic, processed by ``n_workers`` started together."""
    g = Group(base.settings, base.kafka, base.redis_url, base.r, base.topic, base.partitions)
    try:
        procs = [g.start() for _ in range(n_workers)]
        g.wait("the workers to join", lambda: all(g.figures(p) for p in procs), 120)
        cpu0, busy0 = _cpu({**services, "workers": [p.pid for p in procs]}), _busy()
        g.wait(f"{events:,} events", lambda: g.events() >= events, 900)
        cpu1, busy1 = _cpu({**services, "workers": [p.pid for p in procs]}), _busy()
        figs = [g.figures(p) for p in procs]
        seconds = (max(float(f["last_event_at"]) for f in figs)
                   - min(float(f["first_event_at"]) for f in figs if float(f["first_event_at"])))
        busy = max(busy1 - busy0, 1e-9)
        share = {k: (cpu1[k] - cpu0[k]) / busy for k in cpu1}
        share["other"] = max(0.0, 1.0 - sum(share.values()))
        return Throughput(n_workers, events, seconds, share)
    finally:
        g.close()


def rebalance(base: Group, n_series: int, standby: int) -> Rebalance:
    g = Group(base.settings, base.kafka, base.redis_url, base.r, base.topic, base.partitions,
              standby=standby, lstm=False)
    try:
        first = g.start_and_close(n_series)
        stall_ms = float(g.figures(first).get("loop_stall_max_ms", "nan"))
        second = g.start()
        g.wait("the rebalance", lambda: g.held(second) and g.serving_all()
               and int(g.figures(first).get("rebalances", 0)) >= 2, 600)
        join_s = float(g.figures(second)["last_rebalance_s"])
        existing_s = float(g.figures(first)["last_rebalance_s"])
        time.sleep(3.0)  # a standby catches up with what the active copy holds
        done = int(g.figures(first)["rebalances"])
        killed_at = time.time()
        second.send_signal(signal.SIGKILL)
        second.wait(10)
        g.wait("the failover", lambda: int(g.figures(first).get("rebalances", 0)) > done
               and len(g.held(first)) == g.partitions
               and g.figures(first).get("rebalancing") == "0", 600)
        f = g.figures(first)
        rss_mb = int(f.get("rss_bytes", 0)) / 2**20
        g.retire(first)  # a restart: the worker leaves the group, a new one takes everything
        started_at = time.time()
        third = g.start()
        g.wait("the restart", lambda: len(g.held(third)) == g.partitions
               and g.figures(third).get("rebalancing") == "0", 600)
        restart_s = float(g.figures(third)["last_rebalance_at"]) - started_at
        return Rebalance(n_series, standby, join_s, existing_s,
                         float(f["last_rebalance_at"]) - killed_at, float(f["last_rebalance_s"]),
                         rss_mb, restart_s, stall_ms)
    finally:
        g.close()


def run_scale_bench(settings: Settings, events: int, series_sizes: list[int],
                    console: Console) -> None:
    from infra import services

    was_up = settings.services_file.exists() or bool(settings.kafka_bootstrap)
    state = services.up(settings)
    run = uuid.uuid4().hex[:8]
    r = redis.Redis.from_url(state.redis_url)
    pids = {"broker": [state.kafka_pid] if state.kafka_pid else [],
            "redis": [state.redis_pid] if state.redis_pid else []}
    try:
        topic = f"bench.{run}.scale"
        bench_topics(state.kafka_bootstrap, settings, {topic: THROUGHPUT_PARTITIONS})
        console.print(f"producing {events:,} synthetic events on {THROUGHPUT_PARTITIONS} "
                      "partitions ...")
        produce(state.kafka_bootstrap, topic, keyed(bench_events(events, 2000, seed=1)))
        base = Group(settings, state.kafka_bootstrap, state.redis_url, r, topic,
                     THROUGHPUT_PARTITIONS)
        runs = []
        for n in (1, 2):
            console.print(f"throughput: {n} worker(s) ...")
            runs.append(throughput(base, n, events, pids))
        rebalances: list[Rebalance] = []
        failures: list[str] = []
        for n_series, standby in [(s, 0) for s in series_sizes] + [(series_sizes[-1], 1)]:
            topic = f"bench.{run}.rebalance{n_series}"
            bench_topics(state.kafka_bootstrap, settings, {topic: REBALANCE_PARTITIONS})
            if standby == 0:
                console.print(f"producing {2 * n_series:,} events over {n_series:,} series ...")
                produce(state.kafka_bootstrap, topic, keyed(series_events(n_series)))
            console.print(f"rebalance and failover: {n_series:,} series, standby {standby} ...")
            base = Group(settings, state.kafka_bootstrap, state.redis_url, r, topic,
                         REBALANCE_PARTITIONS)
            try:
                rebalances.append(rebalance(base, n_series, standby))
            except (RuntimeError, TimeoutError) as exc:  # report it with what was measured
                failures.append(f"{n_series:,} series, standby {standby}: {exc}")
    finally:
        r.close()
        if not was_up:
            services.down(settings)
    report(console, runs, rebalances, settings.home / "logs")
    for failure in failures:
        console.print(f"[red]not measured[/]: {failure}", soft_wrap=True)


def bench_topics(bootstrap: str, settings: Settings, topics: dict[str, int]) -> None:
    """Create the project's topics and each of ``topics`` (name: partitions)."""
    from infra.services import create_topics

    for name, partitions in topics.items():
        create_topics(bootstrap, settings.model_copy(update={"partitions": partitions}),
                      extra=[name])
