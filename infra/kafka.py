"""A local single-node Apache Kafka 4.x broker in KRaft mode, as a plain Java process.

The jars come from Maven Central through ``infra/pom.xml`` (resolved once by ``mvn`` into
``${SALESCAST_CACHE:-~/.cache/salescast}/kafka-<version>/libs``). :func:`start_kafka` picks
two free loopback ports (broker, controller), writes ``server.properties``, formats storage
once (``kafka.tools.StorageTool format --standalone``) and starts ``kafka.Kafka``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from infra.errors import ServiceError

__all__ = ["KAFKA_VERSION", "resolve_jars", "render_properties", "start_kafka", "stop_pid",
           "free_port", "KafkaProcess"]

KAFKA_VERSION = "4.1.1"
_HERE = Path(__file__).resolve().parent


def cache_root() -> Path:
    return Path(os.environ.get("SALESCAST_CACHE") or Path.home() / ".cache" / "salescast")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now.

    >>> 1024 <= free_port() <= 65535
    True
    """
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def resolve_jars(cache: Path | None = None) -> Path:
    """The directory holding the broker's jars, resolving them with Maven on first use."""
    libs = (cache or cache_root()) / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("java") is None:
        raise ServiceError("java not found: install a Java 17+ runtime to run the local Kafka")
    if shutil.which("mvn") is None:
        raise ServiceError("mvn not found: install Apache Maven to fetch the Kafka jars")
    libs.mkdir(parents=True, exist_ok=True)
    cmd = ["mvn", "-q", "-B", "-f", str(_HERE / "pom.xml"), "dependency:copy-dependencies",
           f"-DoutputDirectory={libs}", f"-Dkafka.version={KAFKA_VERSION}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise ServiceError("mvn could not resolve the Kafka jars: " + " | ".join(tail))
    marker.touch()
    return libs


def render_properties(workdir: Path, port: int, controller_port: int) -> str:
    """``server.properties`` of a one-node broker+controller on 127.0.0.1.

    >>> text = render_properties(Path("/tmp/k"), 9092, 9093)
    >>> "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in text
    True
    """
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(workdir / "data"),
        "num.partitions": "4",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


@dataclass(frozen=True)
class KafkaProcess:
    pid: int
    bootstrap: str
    workdir: Path


def _java(libs: Path, main: str, *args: str, heap: str = "-Xmx768m") -> list[str]:
    log4j = f"-Dlog4j2.configurationFile={_HERE / 'log4j2.properties'}"
    return ["java", heap, "-XX:+UseG1GC", "-Djava.awt.headless=true", log4j,
            "-cp", f"{libs}/*", main, *args]


def start_kafka(workdir: Path, timeout: float = 90.0) -> KafkaProcess:
    """Format (once) and start a broker in ``workdir``; wait until it answers metadata."""
    libs = resolve_jars()
    workdir.mkdir(parents=True, exist_ok=True)
    port, controller = free_port(), free_port()
    props = workdir / "server.properties"
    props.write_text(render_properties(workdir, port, controller))
    if not (workdir / "data" / "meta.properties").exists():
        fmt = _java(libs, "kafka.tools.StorageTool", "format", "--standalone", "-t",
                    uuid.uuid4().hex[:22], "-c", str(props), heap="-Xmx256m")
        out = subprocess.run(fmt, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise ServiceError(f"kafka storage format failed: {out.stderr.strip()[-300:]}")
    log = open(workdir / "kafka.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(_java(libs, "kafka.Kafka", str(props)), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    bootstrap = f"127.0.0.1:{port}"
    _wait_healthy(bootstrap, proc, workdir / "kafka.log", timeout)
    return KafkaProcess(proc.pid, bootstrap, workdir)


def _port_open(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def kafka_healthy(bootstrap: str, timeout: float = 3.0) -> bool:
    from confluent_kafka.admin import AdminClient

    if not _port_open(bootstrap):
        return False
    try:
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(
            timeout=timeout)
    except Exception:  # noqa: BLE001 - any failure means "not healthy yet"
        return False
    return True


def _wait_healthy(bootstrap: str, proc: subprocess.Popen[bytes], log: Path,
                  timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise ServiceError("kafka exited at start: " + " | ".join(tail))
        if kafka_healthy(bootstrap, timeout=2.0):
            return
        time.sleep(0.5)
    stop_pid(proc.pid)
    raise ServiceError(f"kafka did not become healthy within {timeout:.0f} s (see {log})")


def stop_pid(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM ``pid``, then SIGKILL after ``timeout``; a PID already gone is fine."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return
        except ChildProcessError:
            pass  # not our child: poll with kill(0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
