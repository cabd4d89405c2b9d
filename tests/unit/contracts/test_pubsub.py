"""contracts/pubsub.py: every Redis database but 0 has channels of its own."""

from __future__ import annotations

from types import SimpleNamespace

import redis

from contracts.pubsub import db_of, in_db
from contracts.wire import ALERTS_CHANNEL, MODELS_CHANNEL, OPS_CHANNEL, UPDATES_CHANNEL

CHANNELS = (UPDATES_CHANNEL, ALERTS_CHANNEL, OPS_CHANNEL, MODELS_CHANNEL)


def test_database_0_keeps_the_plain_names_and_others_get_their_own() -> None:
    assert [in_db(c, 0) for c in CHANNELS] == list(CHANNELS)
    names = {in_db(c, db) for c in CHANNELS for db in range(16)}
    assert len(names) == 16 * len(CHANNELS)  # no two databases share a channel
    assert all(n.startswith("salescast:") for n in names)  # an ACL's &salescast:* covers them


def test_the_database_is_read_from_the_client() -> None:
    assert db_of(redis.Redis.from_url("redis://127.0.0.1:1/5")) == 5
    assert db_of(redis.Redis.from_url("redis://127.0.0.1:1")) == 0
    assert db_of(redis.Redis.from_url("redis://127.0.0.1:1/3").pipeline()) == 3
    assert db_of(SimpleNamespace()) == 0  # a stand-in without a pool
