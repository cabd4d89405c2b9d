"""config/addresses.py: malformed service addresses and state files are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.addresses import (
    check_bootstrap,
    check_host,
    check_redis_url,
    host_port,
    make_url,
    read_services,
    redacted,
)
from config.settings import ConfigError, load_settings


@pytest.mark.parametrize("url", ["bogus", "http://127.0.0.1:1", "redis://127.0.0.1:abc/0",
                                 "redis://[::1", "redis://127.0.0.1:99999/0",
                                 "redis://127.0.0.1:1/0?socket_timeout=abc"])
def test_a_malformed_redis_url_is_refused_when_the_settings_are_read(url: str) -> None:
    with pytest.raises(ValueError, match="is not a Redis URL"):
        check_redis_url(url)
    with pytest.raises(ConfigError, match="^REDIS_URL ") as exc:
        load_settings({"REDIS_URL": url})
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://h:6380/1",
                                 "unix:///tmp/redis.sock", "redis://localhost",
                                 "redis://h:1/0?socket_timeout=2.5&health_check_interval=10",
                                 "redis://h:1/0?socket_keepalive=off&retry_on_timeout=on",
                                 "redis://h:1/0?db=1&db=x"])  # redis-py reads the first
def test_redis_urls_redis_py_reads_are_kept(url: str) -> None:
    assert load_settings({"REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize("value", ["127.0.0.1", " ", "a:b:c", "::", ":99999", "h:0", "h:1,"])
def test_a_bootstrap_without_host_and_port_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="^KAFKA_BOOTSTRAP "):
        load_settings({"KAFKA_BOOTSTRAP": value})


@pytest.mark.parametrize("value", ["127.0.0.1:9092", "a:1, b:2", "[::1]:9092",
                                   "PLAINTEXT://broker:9092"])
def test_bootstrap_lists_are_kept(value: str) -> None:
    assert check_bootstrap(value) == value


@pytest.mark.parametrize("text", ["{bad json", "[]", "3"])
def test_a_corrupt_services_state_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "services.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="services"):
        read_services(path)
    settings = load_settings({"SALESCAST_HOME": str(tmp_path)})
    # `services down` reads the same file (infra.services.read_state): removing it is the fix
    with pytest.raises(ConfigError, match="remove it and retry"):
        settings.with_services()


def test_the_services_state_gives_its_addresses(tmp_path: Path) -> None:
    assert read_services(tmp_path / "none.json") == {}
    path = tmp_path / "services.json"
    path.write_text('{"kafka_bootstrap": "127.0.0.1:9", "redis_url": "redis://h:1/0", "x": 1}')
    assert read_services(path) == {"kafka_bootstrap": "127.0.0.1:9", "redis_url": "redis://h:1/0",
                                   "x": 1}


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", "ws://127.0.0.1:8765/ws"), ("localhost", "ws://localhost:8765/ws"),
    ("::1", "ws://[::1]:8765/ws"), ("[::1]", "ws://[::1]:8765/ws"),
    ("fe80::1%eth0", "ws://[fe80::1%eth0]:8765/ws"), ("::", "ws://[::]:8765/ws"),
])
def test_an_ipv6_literal_host_is_bracketed_in_a_url(host: str, expected: str) -> None:
    assert make_url("ws", host, 8765, "/ws") == expected
    assert host_port(host, 8765) == expected.removeprefix("ws://").removesuffix("/ws")


@pytest.mark.parametrize("text", [
    '{"kafka_bootstrap": "nonsense", "redis_url": "redis://h:1/0"}',
    '{"kafka_bootstrap": "h:1", "redis_url": "http//x"}',
    '{"kafka_bootstrap": "h:1", "redis_url": []}',
    '{"kafka_bootstrap": "h:1", "redis_url": "redis://h:1/0", "kafka_pid": "abc"}',
    '{"kafka_bootstrap": "h:1", "redis_url": "redis://h:1/0", "redis_pid": -1}',
])
def test_a_services_state_with_bad_values_is_one_error(tmp_path: Path, text: str) -> None:
    """A hand-edited state: a traceback from redis-py or from os.kill before."""
    from infra.services import ServiceError, read_state

    (tmp_path / "services.json").write_text(text)
    settings = load_settings({"SALESCAST_HOME": str(tmp_path)})
    with pytest.raises(ServiceError, match="remove it and retry"):
        read_state(settings)
    if "pid" not in text:
        with pytest.raises(ConfigError, match="remove it and retry"):
            settings.with_services()


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://admin:s3cret@127.0.0.1:6379/0", "redis://admin:***@127.0.0.1:6379/0"),
    ("rediss://:p@ss:word@h:1/0", "rediss://:***@h:1/0"),
    ("redis://h:1/0?password=s3cret&db=1", "redis://h:1/0?password=***&db=1"),
    ("unix:///run/redis.sock?password=x", "unix:///run/redis.sock?password=***"),
    ("redis://user@h:1/0", "redis://user@h:1/0"),
])
def test_a_redis_password_is_never_shown(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_a_bad_redis_url_setting_does_not_echo_its_password() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"REDIS_URL": "redis://admin:s3cret@127.0.0.1:99999/0"})
    assert "s3cret" not in str(err.value) and "admin:***@" in str(err.value)


@pytest.mark.parametrize("host", ["127.0.0.1:80", "not a host!", "", "-x", "a..b", "999.1.1.1",
                                  "[::1]"])
def test_a_gateway_host_that_is_no_host_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="SALESCAST_GATEWAY_HOST must be a bare host"):
        load_settings({"SALESCAST_GATEWAY_HOST": host or " "})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "::1", "localhost", "gw-1.internal.example"])
def test_hosts_are_kept(host: str) -> None:
    assert check_host(host) == host
