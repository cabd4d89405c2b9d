"""Session fixtures: a real local Kafka + Redis, started once when a test asks for them.

``services`` starts nothing until a test requests it (integration tests, marked
``@pytest.mark.integration``). ``KAFKA_BOOTSTRAP``/``REDIS_URL`` in the environment point the
session at existing servers instead. ``unique_topics`` gives each test its own topic names.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from salescast.config import Settings, load_settings


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at real services: ``KAFKA_BOOTSTRAP``/``REDIS_URL`` if set, else a
    Kafka and a Redis started on 127.0.0.1 for this test session and stopped after it."""
    from infra import services as svc

    home: Path = tmp_path_factory.mktemp("salescast-home")
    settings = load_settings(dict(os.environ, SALESCAST_HOME=str(home)))
    try:
        # attached: the servers die with pytest even when it is killed without cleanup
        state = svc.up(settings, attached=True)
    except svc.ServiceError as exc:
        pytest.fail(f"local services did not start: {exc}", pytrace=False)
    try:
        yield replace(settings, kafka_bootstrap=state.kafka_bootstrap, redis_url=state.redis_url)
    finally:
        svc.down(settings)


@dataclass(frozen=True)
class UniqueTopics:
    """Topic names of one test: ``unique_topics("events")`` -> ``test.<test>.<run>.events``."""

    run: str

    def __call__(self, name: str) -> str:
        return f"test.{self.run}.{name}"

    def settings(self, base: Settings) -> Settings:
        """``base`` with this test's own events/dead-letter topics and consumer group."""
        return replace(base, events_topic=self("events"), deadletter_topic=self("deadletter"),
                       worker_id=f"test-worker-{self.run}")


@pytest.fixture
def unique_topics(request: pytest.FixtureRequest) -> UniqueTopics:
    """Fresh topic names for this test, so tests sharing one Kafka never see each other's data."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:60]
    return UniqueTopics(f"{slug}.{uuid.uuid4().hex[:8]}")
