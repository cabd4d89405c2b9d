"""A local Redis (Debian's ``redis-server``) on 127.0.0.1, a free port, no persistence."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from infra.errors import ServiceError
from infra.kafka import free_port, stop_pid

__all__ = ["ensure_redis_server", "start_redis", "redis_healthy", "RedisProcess", "stop_pid"]


def ensure_redis_server() -> str:
    """Path of ``redis-server``, installing Debian's package when missing and running as root."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "redis-server"]):
            subprocess.run(cmd, env=env, capture_output=True, timeout=600)
        found = shutil.which("redis-server")
        if found:
            return found
    raise ServiceError("redis-server not found: install it (Debian: apt-get install redis-server)"
                       " or set REDIS_URL")


@dataclass(frozen=True)
class RedisProcess:
    pid: int
    url: str
    workdir: Path


def redis_healthy(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2)
        ok = bool(client.ping())
        client.close()
        return ok
    except redis.RedisError:
        return False


def start_redis(workdir: Path, timeout: float = 20.0) -> RedisProcess:
    """Start ``redis-server`` in ``workdir`` and wait for PING."""
    binary = ensure_redis_server()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no",
            "--dir", str(workdir), "--logfile", str(workdir / "redis.log")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"redis-server exited at start (see {workdir / 'redis.log'})")
        if redis_healthy(url):
            return RedisProcess(proc.pid, url, workdir)
        time.sleep(0.1)
    stop_pid(proc.pid)
    raise ServiceError(f"redis did not answer PING within {timeout:.0f} s")
