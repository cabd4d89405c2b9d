"""One frozen settings object per process, read from the environment.

Every environment variable salescast reads is a field of :class:`Settings`: its name, type,
bounds, default and meaning are declared once, here (a default the README shows otherwise than
itself is in ``json_schema_extra["shown"]``). The README's configuration table is
:func:`config.table.settings_table` (``tests/unit/config/test_table.py`` checks). A bad
value is a :class:`ConfigError` with a one-line message naming the variable
(:mod:`config.messages`).

>>> s = load_settings({"SALESCAST_HORIZON": "7", "SALESCAST_ALLOWED_HOSTS": "a.example, b"})
>>> s.horizon, s.bucket_seconds, s.allowed_hosts
(7, 86400, ('a.example', 'b'))
>>> load_settings({"SALESCAST_HORIZON": "zero"})
Traceback (most recent call last):
...
config.messages.ConfigError: SALESCAST_HORIZON must be an integer, got 'zero'
>>> load_settings({"SALESCAST_AUTH_SECRET": "k"}).auth_secret
SecretStr('**********')
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasGenerator, Field, SecretStr, ValidationError, field_validator
from pydantic.functional_validators import AfterValidator, BeforeValidator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.addresses import (
    check_bootstrap,
    check_host,
    check_origins,
    check_redis_url,
    read_services,
)
from config.calendar import bucket_width, check_holidays, parse_offset
from config.messages import ConfigError, one_line
from config.paths import directory, expand_user
from config.rules import conflict

__all__ = ["Settings", "ConfigError", "load_settings", "cache_root", "ENV_VARS",
           "DEFAULT_PARTITIONS"]

#: partitions of the topics salescast creates unless ``SALESCAST_PARTITIONS`` says otherwise:
#: room for a few workers (a group uses at most one worker per partition)
DEFAULT_PARTITIONS = 8
_KAFKA_NAME = re.compile(r"[a-zA-Z0-9._-]{1,200}")


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """``$SALESCAST_CACHE``, default ``~/.cache/salescast``: caches shared by every clone."""
    raw = (os.environ if env is None else env).get("SALESCAST_CACHE")
    return expand_user(raw) if raw else expand_user("~") / ".cache" / "salescast"


Csv = Annotated[tuple[str, ...], NoDecode]


def _env_name(field: str) -> str:
    """A field's environment variable unless it names its own: ``SALESCAST_`` + upper case."""
    return f"SALESCAST_{field.upper()}"


class Settings(BaseSettings):
    """Configuration shared by every salescast process (frozen; ``model_copy(update=...)``
    makes a changed copy). ``Settings()`` reads the environment; fields may also be passed by
    name."""

    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, env_ignore_empty=True,
                                      populate_by_name=True, extra="ignore",
                                      alias_generator=AliasGenerator(validation_alias=_env_name))

    # where things are
    home: Path = Field(default_factory=lambda: Path(".salescast").resolve(),
                       description="state dir: services state, logs",
                       json_schema_extra={"shown": "`./.salescast`"})
    cache: Path = Field(default_factory=cache_root,
                        description="caches shared by every clone: venvs, Kafka jars, data set",
                        json_schema_extra={"shown": "`~/.cache/salescast`"})
    kafka_bootstrap: Annotated[str | None, AfterValidator(check_bootstrap)] = Field(
        default=None, validation_alias="KAFKA_BOOTSTRAP",
        description="use an existing Kafka (host:port,...) instead of the local one",
        json_schema_extra={"shown": "from `services.json`"})
    redis_url: Annotated[str | None, AfterValidator(check_redis_url)] = Field(
        default=None, validation_alias="REDIS_URL",
        description="use an existing Redis instead of the local one",
        json_schema_extra={"shown": "from `services.json`"})

    # topics and the worker group
    events_topic: str = Field(default="sales.events", description="topic of sale events")
    deadletter_topic: str = Field(default="sales.deadletter",
                                  description="topic of rejected records")
    partitions: int = Field(
        default=DEFAULT_PARTITIONS, ge=1, le=10_000,
        description="partitions of the topics `services up` creates (the most workers a group "
                    "can use; see Scaling out)")
    standby_replicas: int = Field(
        default=0, ge=0, le=16,
        description="Faust standby replicas: warm copies of other workers' table partitions "
                    "(faster failover, the changelog read twice)")

    # buckets and forecasts
    bucket_seconds: Annotated[int, BeforeValidator(bucket_width)] = Field(
        default=86400, ge=60, le=366 * 86400, description=(
        "bucket width in seconds (`604800`: weeks from Monday), or `hour` / `day` / `week` "
        "for 3600 / 86400 / 604800, or `month` / `quarter` (calendar months, 2629800 s, or "
        "quarters, 7889400 s); the seasons follow it (hourly 24 and 168, daily 7, weekly 52, "
        "months 12, quarters 4), and past a day a trend member: `models/seasons.py`"))
    utc_offset: Annotated[int, BeforeValidator(parse_offset)] = Field(
        default=0, ge=-12 * 3600, le=14 * 3600, description=(
            "the shop's clock (`-05:00`, `+08:00`): day, week, month and quarter buckets start at "
            "its midnight; a fixed offset (where clocks change in summer, the standard one)"),
        json_schema_extra={"shown": "`0` (UTC)"})
    holidays: Annotated[str, AfterValidator(check_holidays)] = Field(
        default="GB-ENG", description=(
            "bank holidays of the daily holiday factor: a country code of the `holidays` "
            "package, optionally with a subdivision (`US`, `US-CA`, `DE-BY`), or `none`"))
    lateness_seconds: int = Field(default=3600, ge=0,
                                  description="allowed lateness after a bucket's end")
    horizon: int = Field(default=14, ge=1, le=400, description=(
        "forecast horizon (buckets; a series' state grows with its square: 14 takes ~15 KB)"))
    history: int = Field(default=120, ge=14, le=100_000,
                         description="closed buckets kept per series")
    aggregate_by: Literal["country", "category", "none"] = Field(
        default="country",
        description="the children of the `total` aggregate: each event's `country`, its "
                    "series' category from `SALESCAST_CATEGORY_MAP`, or `none` (no aggregates)")
    category_map: Path | None = Field(
        default=None, description="CSV of `series,category` rows, for "
                                  "`SALESCAST_AGGREGATE_BY=category`",
        json_schema_extra={"shown": "unset"})

    # processes
    gateway_host: Annotated[str, AfterValidator(check_host)] = Field(
        default="127.0.0.1", description="gateway bind address")
    gateway_port: int = Field(default=8765, ge=0, le=65535,
                              description="gateway port (0 picks a free one)")
    worker_id: str = Field(default="salescast-worker", description="Faust app id (consumer group)")
    alerts_topic: str = Field(default="alerts.anomalies", description="topic of anomaly alerts")
    buckets_topic: str = Field(default="sales.buckets",
                               description="topic of closed buckets (LSTM training)")
    models_dir_override: Path | None = Field(
        default=None, validation_alias="SALESCAST_MODELS_DIR",
        description="LSTM model store (versioned artifacts)",
        json_schema_extra={"shown": "`$SALESCAST_HOME/models`"})
    lstm: bool = Field(default=True, description="`0` runs the worker without the LSTM")
    lag_alert: int = Field(default=10000, ge=1,
                           description="consumer lag (messages) that raises the ops lag alert")

    # event-time rules
    event_time: Literal["live", "replay"] = Field(
        default="live", description="`live` or `replay` (see Event-time rules)")
    max_skew_seconds: int = Field(
        default=300, ge=0,
        description="live: how far an event may be after its message's timestamp")
    max_ahead_seconds: int = Field(
        default=30 * 86400, ge=1,
        description="replay: how far an event may be ahead of the watermark (less than two "
                    "buckets is taken as two)")

    # the gateway's guards
    auth_secret: SecretStr | None = Field(
        default=None,
        description="HMAC secret of gateway tokens (unset: no auth, local development only)",
        json_schema_extra={"shown": "unset (auth off)"})
    allowed_origins: Annotated[Csv, AfterValidator(check_origins)] = Field(
        default=(), description="comma-separated Origin allow-list of the gateway (`*`: any)",
        json_schema_extra={"shown": "unset (same origin)"})
    allowed_hosts: Csv = Field(
        default=(), description="comma-separated extra Host names the gateway answers (`*`: any)",
        json_schema_extra={"shown": "unset"})
    metrics_public: bool = Field(
        default=False, description="`1`: the gateway's /metrics without a token (auth on)")
    auth_timeout: float = Field(
        default=10.0, ge=0,
        description="seconds a gateway connection may stay unauthenticated (0: no deadline)")
    max_connections: int = Field(
        default=10_000, ge=1, description="open gateway connections in all")
    max_connections_per_address: int = Field(
        default=64, ge=1, description="open gateway connections per client address")
    handshake_rate: float = Field(
        default=20.0, gt=0, description="gateway HTTP requests (handshakes) per second per address")
    handshake_burst: int = Field(
        default=40, ge=1, description="gateway handshakes per address in a burst")
    slow_client_seconds: float = Field(
        default=5.0, ge=0.1, le=3600,
        description="how long a gateway client's socket may stay unread before it is closed "
                    "(4008)")

    @field_validator("home", "models_dir_override", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else directory(value).resolve()

    @field_validator("category_map", mode="after")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:  # the worker reads it whole: a bad file is a setting error, not a traceback there
            expand_user(value).read_text(encoding="utf-8")  # ~nouser: its own ValueError
        except (OSError, UnicodeDecodeError):
            raise ValueError("must be a readable UTF-8 CSV file") from None
        return expand_user(value).resolve()

    @field_validator("cache", mode="after")
    @classmethod
    def _expanded(cls, value: Path) -> Path:
        return directory(value)

    @field_validator("events_topic", "deadletter_topic", "alerts_topic", "buckets_topic",
                     "worker_id", mode="after")
    @classmethod
    def _kafka_name(cls, value: str) -> str:  # the worker id names a group and its topics
        if not _KAFKA_NAME.fullmatch(value) or value in (".", ".."):
            raise ValueError("must be a Kafka name: 1..200 of a-z A-Z 0-9 . _ -")
        return value

    @field_validator("auth_secret", mode="after")
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():  # " " is no secret
            raise ValueError("must not be blank (unset it to turn auth off)")
        return value

    @field_validator("allowed_origins", "allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def secret(self) -> str | None:
        """The gateway's HMAC secret in clear (``None``: auth off)."""
        return None if self.auth_secret is None else self.auth_secret.get_secret_value()

    @property
    def models_dir(self) -> Path:
        """The LSTM model store: versioned artifacts (``SALESCAST_MODELS_DIR``)."""
        return self.models_dir_override or self.home / "models"

    @property
    def services_file(self) -> Path:
        """Where ``salescast services up`` writes the addresses of what it started."""
        return self.home / "services.json"

    @property
    def data_dir(self) -> Path:
        """Where the data set is cached (shared by every clone)."""
        return self.cache / "data"

    def with_services(self, need: tuple[str, ...] = ("kafka", "redis")) -> Settings:
        """Fill unset Kafka/Redis addresses from the services state file; a ConfigError when
        one that the command ``need``s is in neither."""
        if self.kafka_bootstrap and self.redis_url:
            return self
        state = {k: v for k, v in read_services(self.services_file).items() if isinstance(v, str)}
        kafka = self.kafka_bootstrap or state.get("kafka_bootstrap")
        redis = self.redis_url or state.get("redis_url")
        lack = [(name, var) for name, var, got in (("Kafka", "KAFKA_BOOTSTRAP", kafka),
                ("Redis", "REDIS_URL", redis)) if name.lower() in need and not got]
        if lack:
            raise ConfigError(f"no {'/'.join(n for n, _ in lack)} address: run `salescast "
                              f"services up` or set {' and '.join(v for _, v in lack)}")
        return self.model_copy(update={"kafka_bootstrap": kafka, "redis_url": redis})

    @property
    def kafka(self) -> str:
        if not self.kafka_bootstrap:
            raise ConfigError("KAFKA_BOOTSTRAP is not set and no local services are up")
        return self.kafka_bootstrap

    @property
    def redis(self) -> str:
        if not self.redis_url:
            raise ConfigError("REDIS_URL is not set and no local services are up")
        return self.redis_url


#: field name -> environment variable, in declaration order
ENV_VARS: dict[str, str] = {name: str(f.validation_alias)
                            for name, f in Settings.model_fields.items()}

def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default: the process environment). Empty variables count
    as unset; a bad value raises :class:`ConfigError` with one line."""
    try:
        settings = (Settings() if env is None else
                    Settings.model_validate({k: v for k, v in env.items() if v != ""}))
    except ValidationError as exc:
        raise ConfigError(one_line(exc, ENV_VARS)) from None
    if (line := conflict(settings)) is not None:  # rules between settings (config.rules)
        raise ConfigError(line)
    return settings

