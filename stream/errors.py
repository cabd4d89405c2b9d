"""The worker side's exceptions: one base, :class:`StreamError`.

::

    StreamError
    ├── ReplayError (also a ConfigError) the replay's topic cannot be used (stream.replay)
    └── SettingsChanged  a state restored from the changelog was made with other settings

Bad records are not exceptions: they become dead letters (:mod:`stream.records`). A data set
that cannot be fetched or read is :class:`sources.errors.DatasetError`, the ``sources``
package's own.
"""

from __future__ import annotations

__all__ = ["StreamError", "SettingsChanged"]


class StreamError(Exception):
    """The base of the stream package's exceptions (message: one short line)."""


class SettingsChanged(StreamError):
    """A series state restored from the changelog was bucketed with another width than the
    worker's (``SALESCAST_BUCKET_SECONDS`` changed over kept topics): the worker stops, in one
    line, rather than mix the widths (:class:`stream.state.StateStore`)."""
