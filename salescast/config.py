"""One frozen settings object per process, read from the environment.

Every environment variable salescast reads is listed here (and in the README):

==========================  =========================================  ==================
variable                    meaning                                    default
==========================  =========================================  ==================
KAFKA_BOOTSTRAP             Kafka bootstrap servers (host:port,...)    from services state
REDIS_URL                   Redis URL                                  from services state
SALESCAST_HOME              state dir: services, logs                  ``./.salescast``
SALESCAST_CACHE             caches shared by every clone: venvs,       ``~/.cache/salescast``
                            Kafka jars, the data set
SALESCAST_EVENTS_TOPIC      topic of sale events                       ``sales.events``
SALESCAST_DEADLETTER_TOPIC  topic of rejected records                  ``sales.deadletter``
SALESCAST_PARTITIONS        partitions of the events topic             ``4``
SALESCAST_BUCKET_SECONDS    event-time bucket width                    ``86400``
SALESCAST_LATENESS_SECONDS  allowed lateness after a bucket ends       ``3600``
SALESCAST_HORIZON           forecast horizon H (buckets)               ``14``
SALESCAST_HISTORY           closed buckets kept per series             ``120``
SALESCAST_GATEWAY_HOST      gateway bind address                       ``127.0.0.1``
SALESCAST_GATEWAY_PORT      gateway port                               ``8765``
SALESCAST_WORKER_ID         Faust app id / consumer group              ``salescast-worker``
SALESCAST_ALERTS_TOPIC      topic of anomaly alerts                    ``alerts.anomalies``
SALESCAST_BUCKETS_TOPIC     topic of closed buckets (LSTM training)    ``sales.buckets``
SALESCAST_MODELS_DIR        LSTM model store (versioned artifacts)     ``$SALESCAST_HOME/models``
SALESCAST_AUTH_SECRET       HMAC secret of gateway tokens; unset:      unset
                            no auth (local development only)
SALESCAST_ALLOWED_ORIGINS   comma-separated Origin allow-list of the   unset
                            gateway (unset: same-host origins only)
SALESCAST_LAG_ALERT         consumer lag (messages) that raises an     ``10000``
                            ops alert
SALESCAST_LSTM              ``0`` runs the worker without the LSTM     ``1``
SALESCAST_ALLOWED_HOSTS     extra Host names the gateway answers to     unset
SALESCAST_METRICS_PUBLIC    ``1``: /metrics without a token (auth on)  ``0``
SALESCAST_MAX_CONNECTIONS_PER_ADDRESS  gateway connections per address ``64``
SALESCAST_HANDSHAKE_BURST   gateway handshakes per address in a burst  ``40``
SALESCAST_EVENT_TIME        ``live``: event time bounded by message    ``live``
                            time + skew; ``replay``: by the watermark
                            + max ahead (README: Event-time rules)
SALESCAST_MAX_SKEW_SECONDS  live: how far an event may be after its    ``300``
                            message's timestamp
SALESCAST_MAX_AHEAD_SECONDS replay: how far an event may be ahead of   ``2592000``
                            its partition's watermark (30 days)
==========================  =========================================  ==================

``KAFKA_BOOTSTRAP`` and ``REDIS_URL`` point everything at existing servers instead of the
local ones that ``salescast services up`` starts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["Settings", "ConfigError", "load_settings", "cache_root"]


class ConfigError(Exception):
    """A setting is missing or has a bad value."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default)."""
    raw = env.get(name) or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def cache_root(env: dict[str, str] | None = None) -> Path:
    """``$SALESCAST_CACHE``, default ``~/.cache/salescast``: caches shared by every clone."""
    raw = (os.environ if env is None else env).get("SALESCAST_CACHE")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "salescast"


@dataclass(frozen=True)
class Settings:
    """Configuration shared by every salescast process."""

    home: Path = field(default_factory=lambda: Path(".salescast").resolve())
    cache: Path = field(default_factory=cache_root)
    kafka_bootstrap: str | None = None
    redis_url: str | None = None
    events_topic: str = "sales.events"
    deadletter_topic: str = "sales.deadletter"
    partitions: int = 4
    bucket_seconds: int = 86400
    lateness_seconds: int = 3600
    horizon: int = 14
    history: int = 120
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8765
    worker_id: str = "salescast-worker"
    alerts_topic: str = "alerts.anomalies"
    buckets_topic: str = "sales.buckets"
    models_dir_override: Path | None = None
    auth_secret: str | None = None
    allowed_origins: tuple[str, ...] = ()
    lag_alert: int = 10000
    lstm: bool = True
    event_time: str = "live"
    allowed_hosts: tuple[str, ...] = ()
    metrics_public: bool = False
    max_connections_per_address: int = 64
    handshake_burst: int = 40
    max_skew_seconds: int = 300
    max_ahead_seconds: int = 30 * 86400

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

    def with_services(self) -> Settings:
        """Fill unset Kafka/Redis addresses from the services state file."""
        if self.kafka_bootstrap and self.redis_url:
            return self
        state: dict[str, str] = {}
        if self.services_file.exists():
            state = json.loads(self.services_file.read_text())
        kafka = self.kafka_bootstrap or state.get("kafka_bootstrap")
        redis = self.redis_url or state.get("redis_url")
        if not kafka or not redis:
            raise ConfigError(
                "no Kafka/Redis address: run `salescast services up` "
                "or set KAFKA_BOOTSTRAP and REDIS_URL"
            )
        return replace(self, kafka_bootstrap=kafka, redis_url=redis)

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


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: ``os.environ``).

    >>> s = load_settings({"SALESCAST_HORIZON": "7"})
    >>> s.horizon, s.bucket_seconds
    (7, 86400)
    >>> load_settings({"SALESCAST_HORIZON": "zero"})
    Traceback (most recent call last):
    ...
    salescast.config.ConfigError: SALESCAST_HORIZON must be an integer, got 'zero'
    """
    env = dict(os.environ if env is None else env)
    home = Path(env.get("SALESCAST_HOME") or ".salescast").resolve()
    return Settings(
        home=home,
        cache=cache_root(env),
        kafka_bootstrap=env.get("KAFKA_BOOTSTRAP") or None,
        redis_url=env.get("REDIS_URL") or None,
        events_topic=env.get("SALESCAST_EVENTS_TOPIC") or "sales.events",
        deadletter_topic=env.get("SALESCAST_DEADLETTER_TOPIC") or "sales.deadletter",
        partitions=_int(env, "SALESCAST_PARTITIONS", 4),
        bucket_seconds=_int(env, "SALESCAST_BUCKET_SECONDS", 86400, minimum=60),
        lateness_seconds=_int(env, "SALESCAST_LATENESS_SECONDS", 3600, minimum=0),
        horizon=_int(env, "SALESCAST_HORIZON", 14),
        history=_int(env, "SALESCAST_HISTORY", 120, minimum=14),
        gateway_host=env.get("SALESCAST_GATEWAY_HOST") or "127.0.0.1",
        gateway_port=_int(env, "SALESCAST_GATEWAY_PORT", 8765, minimum=0),
        worker_id=env.get("SALESCAST_WORKER_ID") or "salescast-worker",
        alerts_topic=env.get("SALESCAST_ALERTS_TOPIC") or "alerts.anomalies",
        buckets_topic=env.get("SALESCAST_BUCKETS_TOPIC") or "sales.buckets",
        models_dir_override=(Path(env["SALESCAST_MODELS_DIR"]).expanduser().resolve()
                             if env.get("SALESCAST_MODELS_DIR") else None),
        auth_secret=env.get("SALESCAST_AUTH_SECRET") or None,
        allowed_origins=tuple(o.strip() for o in env.get("SALESCAST_ALLOWED_ORIGINS", "").split(",")
                              if o.strip()),
        lag_alert=_int(env, "SALESCAST_LAG_ALERT", 10000),
        event_time=_choice(env, "SALESCAST_EVENT_TIME", ("live", "replay")),
        allowed_hosts=tuple(h.strip() for h in env.get("SALESCAST_ALLOWED_HOSTS", "").split(",")
                            if h.strip()),
        metrics_public=env.get("SALESCAST_METRICS_PUBLIC", "0") in ("1", "true", "yes", "on"),
        max_connections_per_address=_int(env, "SALESCAST_MAX_CONNECTIONS_PER_ADDRESS", 64),
        handshake_burst=_int(env, "SALESCAST_HANDSHAKE_BURST", 40),
        max_skew_seconds=_int(env, "SALESCAST_MAX_SKEW_SECONDS", 300, minimum=0),
        max_ahead_seconds=_int(env, "SALESCAST_MAX_AHEAD_SECONDS", 30 * 86400),
        lstm=env.get("SALESCAST_LSTM", "1") not in ("0", "false", "no", "off"),
    )
