"""Session fixtures: a real local Kafka + Redis, started once when a test asks for them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from salescast.config import Settings, load_settings


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at real services: ``KAFKA_BOOTSTRAP``/``REDIS_URL`` if set, else a
    Kafka and a Redis started on 127.0.0.1 for this test session and stopped after it."""
    from infra import services as svc

    home: Path = tmp_path_factory.mktemp("salescast-home")
    settings = replace(load_settings(dict(os.environ, SALESCAST_HOME=str(home))), home=home)
    state = svc.up(settings)
    try:
        yield replace(settings, kafka_bootstrap=state.kafka_bootstrap, redis_url=state.redis_url)
    finally:
        svc.down(settings)
