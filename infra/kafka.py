"""A local single-node Apache Kafka 4.x broker in KRaft mode, as a plain Java process.

The jars come from Maven Central through ``infra/pom.xml``, resolved once by ``mvn`` into
``${SALESCAST_CACHE:-~/.cache/salescast}/kafka-<version>/libs`` (``.complete`` marks success).
:func:`start_kafka` picks two free loopback ports (broker, controller), writes
``server.properties``, copies in storage formatted once per cache (``kafka.tools.StorageTool
format --standalone``: a lone KRaft voter accepts new ports) and starts ``kafka.Kafka`` in its
own session, logging to ``kafka.log``; :func:`restart_kafka` starts it again on the same
storage and ports. Process helpers shared with :mod:`infra.redis_server` live here."""
from __future__ import annotations

import base64
import contextlib
import fcntl
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from config import DEFAULT_PARTITIONS, cache_root
from infra.errors import ServiceError
from infra.java import check_java
from infra.kafka_client import unreachable
from infra.procs import port_free

__all__ = ["KAFKA_VERSION", "KafkaProcess", "ServiceError", "cache_root", "free_port",
           "free_ports", "kafka_healthy", "render_properties", "resolve_jars", "restart_kafka",
           "start_kafka", "stop_kafka", "stop_pid"]

KAFKA_VERSION = "4.1.1"
HEAP = "-Xmx512m"
_HERE = Path(__file__).resolve().parent


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that are free on ``host`` right now."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:  # all bound at once, so the kernel cannot hand out one port twice
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]


def free_port(host: str = "127.0.0.1", prefer: int | None = None) -> int:
    """A free TCP port on ``host``: ``prefer`` when nothing listens on it now (connections
    of a server that died may linger there in TIME_WAIT: servers bind with SO_REUSEADDR, and
    so does this check), else any."""
    return prefer if prefer and port_free(prefer, host, reuse=True) else free_ports(1, host)[0]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if needed), across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def resolve_jars(cache_dir: Path | None = None) -> Path:
    """The directory of the broker's jars, resolved with ``mvn`` on first use (then cached)."""
    libs = (cache_dir or cache_root()) / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise ServiceError("mvn not found: install Apache Maven (Debian: apt-get install maven) "
                           "to fetch the Kafka jars, or set KAFKA_BOOTSTRAP")
    with file_lock(libs.parent / ".lock"):
        if marker.exists():  # another process resolved them while we waited
            return libs
        shutil.rmtree(libs, ignore_errors=True)
        libs.mkdir(parents=True)
        cmd = ["mvn", "-q", "-B", "-f", str(_HERE / "pom.xml"), "dependency:copy-dependencies",
               f"-DoutputDirectory={libs}", f"-Dkafka.version={KAFKA_VERSION}"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            raise ServiceError("mvn took over 15 min to fetch the kafka jars") from None
        if proc.returncode != 0 or not any(libs.glob("kafka-server-*.jar")):
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
            raise ServiceError("mvn could not fetch the kafka jars: " + " | ".join(lines[-3:]))
        marker.touch()
    return libs


def render_properties(workdir: Path, port: int, controller_port: int,
                      partitions: int = DEFAULT_PARTITIONS) -> str:
    """``server.properties`` of a one-node broker+controller listening on 127.0.0.1 only.

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
        "num.partitions": str(partitions),
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def cluster_id() -> str:
    """A fresh cluster id: a UUID as 22 URL-safe base64 characters, as Kafka wants.

    Never one that starts with ``-``: the storage tool would read it as an option (1 in 64
    ids did, and ``services up`` failed with "--cluster-id: expected one argument").
    """
    while (cid := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))[0] == "-":
        pass
    return cid


@dataclass(frozen=True)
class KafkaProcess:
    pid: int
    bootstrap: str
    workdir: Path  # server.properties, data/, kafka.log


def _java_cmd(libs: Path, main: str, *args: str, heap: str = HEAP) -> list[str]:
    log4j = f"-Dlog4j2.configurationFile={_HERE / 'log4j2.properties'}"
    return [check_java(), heap, "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true", log4j, "-cp", f"{libs}/*", main, *args]


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGTERM when its parent dies (Linux ``prctl``)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def spawn(cmd: list[str], log: Path, attached: bool) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session, output appended to ``log``; ``attached``: it dies
    with this process (for test sessions), else it outlives it (``salescast services up``)."""
    preexec: Callable[[], None] | None = die_with_parent if attached else None
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=preexec)


def log_tail(log: Path, lines: int = 4) -> str:
    """The last ``lines`` lines of ``log`` on one line, for error messages."""
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(ln.strip()[:300] for ln in text[-lines:]) or "(empty log)"


def formatted_storage(libs: Path) -> Path:
    """Empty KRaft storage, formatted once per cache (``StorageTool format --standalone``)
    and copied by every start: formatting is a JVM start of its own (3-6 s)."""
    template = libs.parent / "formatted"
    if (template / "meta.properties").exists():
        return template
    with file_lock(libs.parent / ".lock"):
        if (template / "meta.properties").exists():
            return template
        work = libs.parent / "formatting"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        props = work / "server.properties"
        props.write_text(render_properties(work, *free_ports(2)))
        fmt = _java_cmd(libs, "kafka.tools.StorageTool", "format", "--standalone",
                        "--cluster-id", cluster_id(), "--config", str(props), heap="-Xmx256m")
        out = subprocess.run(fmt, capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            lines = (out.stdout + out.stderr).strip().splitlines()[-3:]
            raise ServiceError("kafka storage format failed: " + " | ".join(lines))
        (work / "data").replace(template)
        shutil.rmtree(work, ignore_errors=True)
    return template


def start_kafka(workdir: Path, timeout: float = 60.0, attached: bool = False,
                cache_dir: Path | None = None) -> KafkaProcess:
    """Start a broker on fresh storage in ``workdir``; wait until it serves metadata."""
    libs = resolve_jars(cache_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(workdir / "data", ignore_errors=True)
    shutil.copytree(formatted_storage(libs), workdir / "data")
    (workdir / "server.properties").write_text(render_properties(workdir, *free_ports(2)))
    return restart_kafka(workdir, timeout, attached, cache_dir)


def restart_kafka(workdir: Path, timeout: float = 60.0, attached: bool = False,
                  cache_dir: Path | None = None) -> KafkaProcess:
    """Start the broker of ``workdir`` (made by :func:`start_kafka`) with its storage and
    ports as they are, after it stopped or crashed; wait until it serves metadata."""
    props = workdir / "server.properties"
    port = re.search(r"^advertised\.listeners=PLAINTEXT://127\.0\.0\.1:(\d+)$",
                     props.read_text(), re.M)
    if port is None:
        raise ServiceError(f"{props}: no broker made by start_kafka")
    log, bootstrap = workdir / "kafka.log", f"127.0.0.1:{port.group(1)}"
    proc = spawn(_java_cmd(resolve_jars(cache_dir), "kafka.Kafka", str(props)), log, attached)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"kafka exited at start ({proc.returncode}): {log_tail(log)}")
        if kafka_healthy(bootstrap, timeout=2.0):
            return KafkaProcess(proc.pid, bootstrap, workdir)
        time.sleep(0.3)
    stop_pid(proc.pid)
    raise ServiceError(f"kafka not healthy after {timeout:.0f} s: {log_tail(log)}")


def kafka_healthy(bootstrap: str, timeout: float = 3.0) -> bool:
    """Whether a Kafka at ``bootstrap`` answers a metadata request within ``timeout``."""
    from confluent_kafka.admin import AdminClient

    if unreachable(bootstrap.split(",")[0], timeout=1.0) is not None:
        return False
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        meta = admin.list_topics(timeout=timeout)
    except Exception:  # noqa: BLE001 - refused, timed out, bad address: not healthy (yet)
        return False
    return bool(meta.brokers)


def pid_matches(pid: int, marker: str | None) -> bool:
    """Whether ``pid`` is alive and (when ``marker`` is given) its command line contains it."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and (
            marker is None or any(marker in part for part in proc.cmdline()))
    except psutil.Error:
        return False


def stop_pid(pid: int, timeout: float = 30.0, marker: str | None = None) -> bool:
    """SIGTERM ``pid``, SIGKILL after ``timeout`` s, reap it if our child; whether it stopped
    one. With ``marker``, a PID whose command line lacks it (reused since) is left alone."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(psutil.Error, ChildProcessError):
                proc.wait(0)  # reap our own exited child
            return False
        if marker is not None and not any(marker in part for part in proc.cmdline()):
            return False
        proc.terminate()
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error as exc:
        raise ServiceError(f"cannot stop pid {pid}: {exc}") from None
    return True


def stop_kafka(pid: int, timeout: float = 30.0) -> bool:
    """Stop the broker ``pid`` (controlled shutdown takes ~3 s), if it is a Kafka."""
    return stop_pid(pid, timeout, marker="kafka.Kafka")
