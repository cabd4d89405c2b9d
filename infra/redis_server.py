"""A local Redis (Debian's ``redis-server``) on 127.0.0.1, on a free port, without persistence."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from config.addresses import make_url
from infra.errors import ServiceError
from infra.kafka import free_port, log_tail, spawn, stop_pid

__all__ = ["RedisProcess", "ensure_redis_server", "redis_args", "redis_healthy", "start_redis",
           "stop_redis"]


def ensure_redis_server() -> str:
    """Path of ``redis-server``, installing Debian's package first when missing and root."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                     "redis-server"]):
            subprocess.run(cmd, env=env, capture_output=True, timeout=900)
        found = shutil.which("redis-server")
        if found:
            return found
        raise ServiceError("apt-get install redis-server failed: install it or set REDIS_URL")
    raise ServiceError("redis-server not found: install it (Debian: sudo apt-get install "
                       "redis-server) or set REDIS_URL")


@dataclass(frozen=True)
class RedisProcess:
    pid: int
    url: str
    workdir: Path

    @property
    def log(self) -> Path:
        return self.workdir / "redis.log"


#: what a subscriber (the gateway) may fall behind by before Redis cuts it off: hard limit,
#: soft limit, seconds over the soft one (``client-output-buffer-limit``; a Redis of your own
#: has 32mb 8mb 60)
PUBSUB_BUFFER = "pubsub 512mb 128mb 60"


def redis_args(binary: str, port: int, workdir: Path) -> list[str]:
    """The ``redis-server`` command line: loopback only, in the foreground, with an
    append-only file synced every second (a restart keeps the snapshots, the alert stream and
    its de-duplication set; the worker republishes whatever the last second lost), and room
    for a subscriber that falls behind: a gateway short of CPU while a day close publishes
    thousands of forecasts (~5 KB each) passed Redis's default limit for a subscriber's
    output (32 MB at once, or 8 MB for 60 s) and Redis cut it off (a soak: five times in 15
    minutes; the gateway reconnects and sends its clients fresh snapshots).

    >>> args = redis_args("redis-server", 6390, Path("/tmp/r"))
    >>> args[args.index("--bind") + 1], args[args.index("--appendonly") + 1]
    ('127.0.0.1', 'yes')
    >>> args[args.index("--client-output-buffer-limit") + 1]
    'pubsub 512mb 128mb 60'
    """
    return [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--client-output-buffer-limit", PUBSUB_BUFFER,
            "--appendonly", "yes", "--appendfsync", "everysec",
            "--protected-mode", "yes", "--daemonize", "no",
            "--dir", str(workdir), "--logfile", str(workdir / "redis.log")]


def redis_healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether the Redis at ``url`` answers PING."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout,
                                      socket_connect_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def start_redis(workdir: Path, timeout: float = 20.0, attached: bool = False,
                port: int | None = None) -> RedisProcess:
    """Start ``redis-server`` with its files in ``workdir`` and wait until it answers PING;
    on ``port`` when it is free (the port of a Redis that died: the processes that used it
    reconnect there), else on any free port."""
    binary = ensure_redis_server()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port(prefer=port)
    proc = spawn(redis_args(binary, port, workdir), workdir / "redis.out", attached)
    url = make_url("redis", "127.0.0.1", port, "/0")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"redis-server exited at start ({proc.returncode}): "
                               f"{log_tail(workdir / 'redis.log')}")
        if redis_healthy(url, timeout=1.0):
            return RedisProcess(proc.pid, url, workdir)
        time.sleep(0.05)
    stop_pid(proc.pid)
    raise ServiceError(f"redis did not answer PING within {timeout:.0f} s: "
                       f"{log_tail(workdir / 'redis.log')}")


def stop_redis(pid: int, timeout: float = 10.0) -> bool:
    """Stop the ``redis-server`` ``pid`` (left alone if the PID now runs something else)."""
    return stop_pid(pid, timeout, marker="redis-server")
