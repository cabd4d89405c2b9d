"""The worker side's exceptions: one base, :class:`StreamError`.

::

    StreamError
    └── ReplayError (also a ConfigError) the replay's topic cannot be used (stream.replay)

Bad records are not exceptions: they become dead letters (:mod:`stream.records`). A data set
that cannot be fetched or read is :class:`sources.errors.DatasetError`, the ``sources``
package's own.
"""

from __future__ import annotations

__all__ = ["StreamError"]


class StreamError(Exception):
    """The base of the stream package's exceptions (message: one short line)."""
