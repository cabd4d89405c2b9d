"""The pure parts of ``infra``: server.properties, ports, redis args, state file, stopping."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import Settings
from infra import java, kafka, services
from infra.errors import ServiceError
from infra.redis_server import redis_args


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_server_properties_single_kraft_node_on_loopback(tmp_path: Path) -> None:
    props = parse(kafka.render_properties(tmp_path, 19092, 19093, partitions=6))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["num.partitions"] == "6"
    assert props["auto.create.topics.enable"] == "true"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):
        assert props[key] == "1"
    assert "0.0.0.0" not in kafka.render_properties(tmp_path, 1, 2)


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = kafka.free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    assert 1024 <= kafka.free_ports(1)[0] <= 65535


def test_cluster_id_and_java_version() -> None:
    ids = {kafka.cluster_id() for _ in range(20)}
    assert len(ids) == 20 and all(len(i) == 22 and "=" not in i for i in ids)
    assert java.java_major('openjdk version "21.0.2" 2024-01-16') == 21
    assert java.java_major('java version "1.8.0_392"') == 8
    assert java.java_major("garbage") == 0


def test_redis_args_loopback_without_persistence(tmp_path: Path) -> None:
    args = redis_args("/usr/bin/redis-server", 6399, tmp_path)
    opts = dict(zip(args[1::2], args[2::2], strict=True))
    assert opts == {"--bind": "127.0.0.1", "--port": "6399", "--save": "",
                    "--client-output-buffer-limit": "pubsub 512mb 128mb 60",
                    "--appendonly": "yes", "--appendfsync": "everysec",
                    "--protected-mode": "yes", "--daemonize": "no",
                    "--dir": str(tmp_path), "--logfile": str(tmp_path / "redis.log")}


def test_resolve_jars_without_maven_is_one_clear_line(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka.shutil, "which", lambda name: None)
    with pytest.raises(ServiceError, match=r"^mvn not found: install Apache Maven") as info:
        kafka.resolve_jars(tmp_path)
    assert "\n" not in str(info.value)
    done = tmp_path / f"kafka-{kafka.KAFKA_VERSION}" / "libs"
    done.mkdir(parents=True)
    (done / ".complete").touch()
    assert kafka.resolve_jars(tmp_path) == done  # cached: maven is not needed any more


def test_stop_pid_terminates_and_reaps_and_spares_other_programs() -> None:
    code = "import time; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        # until the child has exec'd, its command line is still this process's
        deadline = time.monotonic() + 10
        while not kafka.pid_matches(proc.pid, "time.sleep") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kafka.pid_matches(proc.pid, "time.sleep")
        assert not kafka.stop_kafka(proc.pid)  # not a Kafka: a reused PID is left alone
        assert proc.poll() is None
        assert kafka.stop_pid(proc.pid, timeout=5)
        with pytest.raises(ProcessLookupError):  # stopped and reaped: no zombie is left
            os.kill(proc.pid, 0)
        assert not kafka.pid_matches(proc.pid, None)
        assert not kafka.stop_pid(proc.pid)  # already gone: fine
    finally:
        proc.kill()


@pytest.mark.parametrize(("bootstrap", "address"), [
    ("[::1]:9092", ("::1", 9092)), ("PLAINTEXT://broker:9093,b:1", ("broker", 9093)),
    ("127.0.0.1:9094", ("127.0.0.1", 9094)),
])
def test_kafka_healthy_connects_to_the_host_a_bootstrap_names(
        bootstrap: str, address: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def connect(where: tuple[str, int], timeout: float) -> socket.socket:
        seen.append(where)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(kafka.socket, "create_connection", connect)
    assert not kafka.kafka_healthy(bootstrap)
    assert seen == [address]


def test_state_file_and_status_without_services(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert services.read_state(settings) is None
    assert services.status(settings) == {"kafka": "down", "redis": "down"}
    assert services.down(settings) == []  # nothing to stop: no error, nothing stopped
    for text in ("{not json", "[]"):  # "[]": an AttributeError traceback before
        settings.services_file.write_text(text)
        with pytest.raises(ServiceError, match="unreadable services state"):
            services.read_state(settings)


def test_the_image_copies_every_package_the_distribution_installs() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[3]
    find = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [p.rstrip("*") for p in find["packages"]["find"]["include"]]
    dockerfile = (root / "infra" / "Dockerfile").read_text()
    missing = [p for p in packages if f"COPY {p} ./{p}" not in dockerfile]
    assert not missing and all((root / p / "__init__.py").is_file() for p in packages), missing


def test_down_says_what_it_stopped_and_not_what_was_gone(tmp_path: Path) -> None:
    """A state file whose processes exited already: nothing stopped (it said "stopped")."""
    settings = Settings(home=tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    settings.services_file.write_text(
        f'{{"kafka_bootstrap": "127.0.0.1:1", "redis_url": "redis://127.0.0.1:1/0", '
        f'"kafka_pid": {gone.pid}, "redis_pid": {gone.pid}}}')
    assert services.down(settings) == []
    assert not settings.services_file.exists()  # the stale state is dropped all the same


def test_up_with_the_local_services_own_addresses_set_stops_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe: `KAFKA_BOOTSTRAP=<the local broker> salescast services up` stopped that broker
    (and the state file then named no Kafka to keep, so the next `up` started one empty), and
    a README recipe's REDIS_URL of another database of the local Redis stopped that Redis.
    A local service still up stays up and stays in the state file."""
    stopped: list[int] = []
    for name in ("pid_matches", "kafka_healthy", "redis_healthy"):
        monkeypatch.setattr(services, name, lambda *args, **kwargs: True)
    monkeypatch.setattr(services, "stop_kafka", stopped.append)
    monkeypatch.setattr(services, "stop_redis", stopped.append)
    settings = Settings(home=tmp_path)
    settings.services_file.write_text(
        '{"kafka_bootstrap": "127.0.0.1:5001", "redis_url": "redis://127.0.0.1:5002/0", '
        '"kafka_pid": 11, "redis_pid": 12}')
    env = Settings(home=tmp_path, kafka_bootstrap="127.0.0.1:5001",
                   redis_url="redis://127.0.0.1:5002/1")
    used = services.up(env)
    assert stopped == []
    assert (used.kafka_bootstrap, used.redis_url) == ("127.0.0.1:5001", "redis://127.0.0.1:5002/1")
    kept = services.read_state(settings)
    assert kept is not None and (kept.kafka_pid, kept.redis_pid, kept.redis_url) == (
        11, 12, "redis://127.0.0.1:5002/0")
