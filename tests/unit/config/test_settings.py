"""The settings object: read from the environment, validated in one line (the README's table
of them: test_table.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config import ENV_VARS, ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]

# a value for every variable, unlike its default
CHANGED = {
    "SALESCAST_HOME": "/tmp/sc-home", "SALESCAST_CACHE": "/tmp/sc-cache",
    "KAFKA_BOOTSTRAP": "k:1", "REDIS_URL": "redis://r:2/0",
    "SALESCAST_EVENTS_TOPIC": "e", "SALESCAST_DEADLETTER_TOPIC": "d",
    "SALESCAST_PARTITIONS": "3", "SALESCAST_STANDBY_REPLICAS": "1",
    "SALESCAST_BUCKET_SECONDS": "3600", "SALESCAST_HOLIDAYS": "us-ca",
    "SALESCAST_UTC_OFFSET": "+05:30",
    "SALESCAST_LATENESS_SECONDS": "0", "SALESCAST_HORIZON": "7", "SALESCAST_HISTORY": "30",
    "SALESCAST_AGGREGATE_BY": "category",
    "SALESCAST_CATEGORY_MAP": str(Path(__file__).with_name("category_map.csv")),
    "SALESCAST_GATEWAY_HOST": "0.0.0.0", "SALESCAST_GATEWAY_PORT": "0",
    "SALESCAST_WORKER_ID": "w", "SALESCAST_ALERTS_TOPIC": "a", "SALESCAST_BUCKETS_TOPIC": "b",
    "SALESCAST_MODELS_DIR": "/tmp/sc-models", "SALESCAST_LSTM": "0",
    "SALESCAST_LAG_ALERT": "5", "SALESCAST_EVENT_TIME": "replay",
    "SALESCAST_MAX_SKEW_SECONDS": "1", "SALESCAST_MAX_AHEAD_SECONDS": "2",
    "SALESCAST_AUTH_SECRET": "s3cret", "SALESCAST_ALLOWED_ORIGINS": "http://a, http://b,",
    "SALESCAST_ALLOWED_HOSTS": "x.example", "SALESCAST_METRICS_PUBLIC": "1",
    "SALESCAST_AUTH_TIMEOUT": "0", "SALESCAST_MAX_CONNECTIONS": "3",
    "SALESCAST_MAX_CONNECTIONS_PER_ADDRESS": "2", "SALESCAST_HANDSHAKE_RATE": "0.5",
    "SALESCAST_HANDSHAKE_BURST": "9", "SALESCAST_SLOW_CLIENT_SECONDS": "1.5",
}


def test_every_variable_is_tested_and_changes_its_field() -> None:
    assert set(CHANGED) == set(ENV_VARS.values())
    changed, default = load_settings(CHANGED), Settings.model_validate({})
    for name in ENV_VARS:
        assert getattr(changed, name) != getattr(default, name), name
    assert changed.allowed_origins == ("http://a", "http://b")
    assert (changed.lstm, changed.metrics_public, changed.event_time) == (False, True, "replay")
    assert changed.secret == "s3cret" and "s3cret" not in repr(changed)
    assert changed.models_dir == Path("/tmp/sc-models").resolve()


def test_the_process_environment_reads_like_a_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CHANGED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SALESCAST_HORIZON", "")  # empty counts as unset
    from_env = load_settings()
    assert from_env == load_settings({**CHANGED, "SALESCAST_HORIZON": ""})
    assert from_env.horizon == 14 and from_env.partitions == 3 and from_env.standby_replicas == 1


@pytest.mark.parametrize(("env", "message"), [
    ({"SALESCAST_HORIZON": "zero"}, "SALESCAST_HORIZON must be an integer, got 'zero'"),
    ({"SALESCAST_HISTORY": "3"}, "SALESCAST_HISTORY must be >= 14, got '3'"),
    ({"SALESCAST_EVENT_TIME": "now"}, "SALESCAST_EVENT_TIME must be one of live, replay, "
                                      "got 'now'"),
    ({"SALESCAST_HANDSHAKE_RATE": "0"}, "SALESCAST_HANDSHAKE_RATE must be > 0, got '0'"),
    ({"SALESCAST_STANDBY_REPLICAS": "-1"}, "SALESCAST_STANDBY_REPLICAS must be >= 0, got '-1'"),
    ({"SALESCAST_LSTM": "maybe"}, "SALESCAST_LSTM must be a boolean (1/0, true/false, yes/no, "
                                  "on/off), got 'maybe'"),
    ({"SALESCAST_UTC_OFFSET": "EST"}, "SALESCAST_UTC_OFFSET must be a UTC offset such as "
                                      "-05:00 and +05:30, in whole quarter hours from -12:00 "
                                      "to +14:00 (0 and Z: UTC), got 'EST'"),
    ({"SALESCAST_HOLIDAYS": "XX"}, "SALESCAST_HOLIDAYS must be a country code of the holidays "
                                   "package, optionally with a subdivision (GB-ENG, US, US-CA, "
                                   "DE-BY); none turns holidays off, got 'XX'"),
    ({"SALESCAST_HOLIDAYS": "GB-London"}, "SALESCAST_HOLIDAYS must name a subdivision of GB in "
                                          "the holidays package (ENG, NIR, SCT, ...), got "
                                          "'GB-London'"),
])
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert str(err.value) == message


def test_settings_are_frozen_and_copied_with_changes() -> None:
    s = Settings.model_validate({})
    with pytest.raises(ValueError, match="frozen"):
        s.horizon = 3
    assert s.model_copy(update={"horizon": 3}).horizon == 3 and s.horizon == 14


def test_the_security_doc_names_only_real_variables() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    named = set(re.findall(r"`(SALESCAST_[A-Z_]+)", text))
    assert named and named <= set(ENV_VARS.values())


def test_the_faust_app_takes_the_partition_and_standby_settings(tmp_path: Path) -> None:
    from stream.app import create_app

    default = create_app("t-default", "127.0.0.1:1", datadir=str(tmp_path / "a"))
    assert default.conf.topic_partitions == Settings.model_validate({}).partitions == 8
    assert default.conf.table_standby_replicas == 0
    app = create_app("t-set", "127.0.0.1:1", partitions=3, standby_replicas=2,
                     datadir=str(tmp_path / "b"))
    assert (app.conf.topic_partitions, app.conf.table_standby_replicas) == (3, 2)


@pytest.mark.parametrize(("name", "message"), [
    ("SALESCAST_HOME", "SALESCAST_HOME must be a directory, got "),
    ("SALESCAST_CACHE", "SALESCAST_CACHE must be a directory, got "),
    ("SALESCAST_MODELS_DIR", "SALESCAST_MODELS_DIR must be a directory, got "),
    ("SALESCAST_CATEGORY_MAP", None),  # a file: fine
])
def test_a_directory_setting_naming_a_file_is_one_line(name: str, message: str | None) -> None:
    if message is None:
        assert load_settings({name: __file__}).category_map == Path(__file__).resolve()
        return
    with pytest.raises(ConfigError) as err:
        load_settings({name: __file__})
    assert str(err.value) == f"{message}{__file__!r}"


@pytest.mark.parametrize("name", ["SALESCAST_HOME", "SALESCAST_CACHE", "SALESCAST_MODELS_DIR",
                                  "SALESCAST_CATEGORY_MAP"])
def test_a_path_setting_with_the_home_of_no_user_is_one_line(name: str) -> None:
    """``~nouser``: a RuntimeError traceback from pathlib before."""
    value = "~salescast-no-such-user/x"
    with pytest.raises(ConfigError) as err:
        load_settings({name: value})
    assert str(err.value) == (f"{name} cannot expand ~salescast-no-such-user: no such user, "
                              f"got {value!r}")


@pytest.mark.parametrize("content", [None, b"\xff\xfe\x00bad", "dir"])
def test_a_category_map_must_be_a_readable_text_file(content: bytes | str | None,
                                                     tmp_path: Path) -> None:
    """Else the worker would stop on a UnicodeDecodeError/IsADirectoryError traceback."""
    path = tmp_path / "map.csv"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_settings({"SALESCAST_CATEGORY_MAP": str(path)})
    assert str(err.value) == (f"SALESCAST_CATEGORY_MAP must be a readable UTF-8 CSV file, "
                              f"got {str(path)!r}")


def test_a_port_above_65535_is_one_line() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"SALESCAST_GATEWAY_PORT": "70000"})
    assert str(err.value) == "SALESCAST_GATEWAY_PORT must be <= 65535, got '70000'"
    assert load_settings({"SALESCAST_GATEWAY_PORT": "65535"}).gateway_port == 65535


def test_bucket_widths_take_calendar_units_by_name() -> None:
    assert load_settings({"SALESCAST_BUCKET_SECONDS": "month"}).bucket_seconds == 2_629_800
    assert load_settings({"SALESCAST_BUCKET_SECONDS": " Quarter "}).bucket_seconds == 7_889_400
    assert load_settings({"SALESCAST_BUCKET_SECONDS": "3600"}).bucket_seconds == 3600
    # as backtest --bucket names them (a probe: month was taken, week refused)
    assert [load_settings({"SALESCAST_BUCKET_SECONDS": n}).bucket_seconds
            for n in ("hour", "Day", "week")] == [3600, 86400, 604_800]
    with pytest.raises(ConfigError, match=r"^SALESCAST_BUCKET_SECONDS must be a whole number "
                                          r"of seconds, one of hour, day, week, month, "
                                          r"quarter, got 'fortnight'$"):
        load_settings({"SALESCAST_BUCKET_SECONDS": "fortnight"})


@pytest.mark.parametrize("var", ["SALESCAST_EVENTS_TOPIC", "SALESCAST_DEADLETTER_TOPIC",
                                 "SALESCAST_ALERTS_TOPIC", "SALESCAST_BUCKETS_TOPIC",
                                 "SALESCAST_WORKER_ID"])
@pytest.mark.parametrize("value", ["bad topic!", "a/b", "..", "x" * 201, "caf\u00e9"])
def test_kafka_names_are_checked_before_kafka_sees_them(var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{var} must be a Kafka name: 1\.\.200 of "):
        load_settings({var: value})


def test_a_blank_auth_secret_is_refused_not_a_trivial_key() -> None:
    for blank in (" ", "\t \n"):
        with pytest.raises(ConfigError, match="SALESCAST_AUTH_SECRET must not be blank"):
            load_settings({"SALESCAST_AUTH_SECRET": blank})
    assert load_settings({"SALESCAST_EVENTS_TOPIC": "shop-1.sales_v2"}).events_topic == (
        "shop-1.sales_v2")


@pytest.mark.parametrize(("name", "value"), [
    ("SALESCAST_PARTITIONS", "1000000000"), ("SALESCAST_BUCKET_SECONDS", "99999999999999"),
    ("SALESCAST_HISTORY", "100000000"), ("SALESCAST_STANDBY_REPLICAS", "1000000"),
    ("SALESCAST_SLOW_CLIENT_SECONDS", "1e-9")])
def test_values_no_deployment_could_mean_are_refused(name: str, value: str) -> None:
    """Each was taken: a billion partitions, a gateway that closed every client at once."""
    with pytest.raises(ConfigError, match=f"^{name} must be"):
        load_settings({name: value})


def test_a_command_asks_only_for_the_services_it_uses(tmp_path: Path) -> None:
    """The gateway needs only Redis, a replay only Kafka: both were demanded."""
    home = {"SALESCAST_HOME": str(tmp_path)}
    redis_only = load_settings({**home, "REDIS_URL": "redis://r:1/0"})
    assert redis_only.with_services(("redis",)).redis == "redis://r:1/0"
    with pytest.raises(ConfigError, match="^no Kafka address: .* or set KAFKA_BOOTSTRAP$"):
        redis_only.with_services()
    kafka_only = load_settings({**home, "KAFKA_BOOTSTRAP": "k:1"})
    assert kafka_only.with_services(("kafka",)).kafka == "k:1"
    with pytest.raises(ConfigError, match="^no Kafka/Redis address: .* KAFKA_BOOTSTRAP and "
                                          "REDIS_URL$"):
        load_settings(home).with_services()


def test_an_origin_no_browser_sends_is_refused() -> None:
    """A probe: ``SALESCAST_ALLOWED_ORIGINS='not an origin'`` was taken, and could never match."""
    assert load_settings({"SALESCAST_ALLOWED_ORIGINS": "https://a.example, *"}).allowed_origins \
        == ("https://a.example", "*")
    for bad in ("not an origin", "shop.example.com", "https://a.example/app"):
        with pytest.raises(ConfigError, match=rf"^SALESCAST_ALLOWED_ORIGINS must be origins .*"
                                              rf"{bad} is none"):
            load_settings({"SALESCAST_ALLOWED_ORIGINS": bad})
