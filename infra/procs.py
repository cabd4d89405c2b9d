"""Child processes of salescast commands (demo, bench, tests): start, wait, stop by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = ["spawn", "stop", "port_free", "wait_http", "salescast_cmd", "child_env"]


def salescast_cmd(*args: str) -> list[str]:
    """The command line of a salescast subcommand run by this interpreter."""
    return [sys.executable, "-m", "salescast", *args]


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own session with output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0, hard: bool = False) -> None:
    """Stop a child by PID: SIGTERM (or SIGKILL when ``hard``), then SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def port_free(port: int, host: str = "127.0.0.1", reuse: bool = False) -> bool:
    """Whether ``port`` can be bound on ``host`` now; ``reuse``: as a server that binds with
    SO_REUSEADDR would (connections of one that died may linger there in TIME_WAIT)."""
    with socket.socket() as s:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``url`` answers 200; raise ``TimeoutError`` (or if ``proc`` dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def child_env(kafka: str, redis: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ, KAFKA_BOOTSTRAP=kafka, REDIS_URL=redis)
    env.update(extra)
    return env
