"""Pub/sub channel names per Redis database.

Pub/sub is the whole server's, not a database's: a message published by a client of one
database reaches the subscribers of every other. Two deployments on one server, each in its own
database, pushed each other's forecasts and alerts to their clients, so every database but 0
has channels of its own (:func:`in_db`); database 0 keeps the plain names of
:mod:`contracts.wire`.
"""

from __future__ import annotations

from typing import Any

from contracts.wire import PREFIX

__all__ = ["in_db", "db_of"]


def in_db(channel: str, db: int) -> str:
    """The pub/sub channel ``channel`` (one of :mod:`contracts.wire`'s ``*_CHANNEL`` names)
    of Redis database ``db``.

    >>> in_db("salescast:updates", 0), in_db("salescast:updates", 3)
    ('salescast:updates', 'salescast:db3:updates')
    """
    return channel if db == 0 else f"{PREFIX}:db{db}:{channel.removeprefix(PREFIX + ':')}"


def db_of(redis: Any) -> int:
    """The database number a redis-py client (or pipeline) works in (0 for a client without
    a connection pool: the tests' stand-ins)."""
    pool = getattr(redis, "connection_pool", None)
    return 0 if pool is None else int(pool.connection_kwargs.get("db") or 0)
