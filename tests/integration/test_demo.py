"""``salescast demo``, the README's first command, end to end: it starts its own Kafka and
Redis, the worker, the ops monitor, the LSTM trainer and the gateway, prints the dashboard URL,
replays real sales into forecasts that ``salescast watch`` (the client it suggests) prints, and
SIGTERM (what Ctrl-C does) stops everything it started.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis

from contracts.wire import INDEX_KEY
from infra.procs import salescast_cmd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


class _Lines:
    """The demo's output, line by line, read on a thread (so a wait can time out)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                self._q.put(line)
            self._q.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if m := re.search(pattern, line):
                return m
        raise AssertionError(f"no {pattern!r} in the demo's output:\n" + "".join(self.seen))


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read().decode()


def test_demo_serves_the_dashboard_and_stops_everything(tmp_path: Path, retail_csv: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}  # the demo starts its own services
    env.update(SALESCAST_HOME=str(home), SALESCAST_GATEWAY_PORT="0",  # the demo picks one
               COLUMNS="200")
    proc = subprocess.Popen(salescast_cmd("demo", "--limit", "3000"), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = _Lines(proc)
    try:
        url = out.wait_for(r"dashboard: (http://127\.0\.0\.1:\d+/)", 300).group(1)
        status, page = _get(url)
        assert status == 200 and "<html" in page.lower()
        state = json.loads((home / "services.json").read_text())
        service_pids = [state["kafka_pid"], state["redis_pid"]]
        children = [c.pid for c in psutil.Process(proc.pid).children()]
        assert len(children) >= 4  # worker, monitor, trainer, gateway
        out.wait_for(r"replay finished", 300)
        r = redis.Redis.from_url(state["redis_url"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not r.zcard(INDEX_KEY):
            time.sleep(0.5)
        assert r.zcard(INDEX_KEY) > 0, "no series reached Redis"
        r.close()
        assert _get(url + "healthz")[0] == 200
        ws = url.replace("http://", "ws://") + "ws"  # the terminal client the demo suggests
        watch = subprocess.run(salescast_cmd("watch", "*", "--url", ws, "--count", "2"),
                               env=env, capture_output=True, text=True, timeout=120)
        assert watch.returncode == 0, watch.stdout + watch.stderr
        assert len(re.findall(r"  v\d+  ", watch.stdout)) == 2, watch.stdout
    finally:
        proc.send_signal(signal.SIGTERM)  # what Ctrl-C does: stop everything
        try:
            proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
    out.wait_for(r"demo stopped", 10)
    gone = time.monotonic() + 30
    while time.monotonic() < gone and any(psutil.pid_exists(p) for p in children + service_pids):
        time.sleep(0.5)
    alive = [p for p in children + service_pids
             if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"still running after the demo stopped: {alive}"
