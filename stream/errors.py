"""The worker side's exceptions: one base, :class:`StreamError`.

::

    StreamError
    ├── ReplayError (also a ConfigError) the replay's topic cannot be used (stream.replay)
    └── SettingsChanged  a state restored from the changelog was made with other settings

:func:`fail_stop` ends the worker when a batch fails. Bad records are not exceptions: they
become dead letters (:mod:`stream.records`). A data set
that cannot be fetched or read is :class:`sources.errors.DatasetError`, the ``sources``
package's own.
"""

from __future__ import annotations

import logging
import os

__all__ = ["StreamError", "SettingsChanged", "EXIT_BATCH_FAILED", "fail_stop"]

EXIT_BATCH_FAILED = 70  # the worker's exit status when applying a batch failed


class StreamError(Exception):
    """The base of the stream package's exceptions (message: one short line)."""


class SettingsChanged(StreamError):
    """A series state restored from the changelog was bucketed with another width than the
    worker's (``SALESCAST_BUCKET_SECONDS`` changed over kept topics): the worker stops, in one
    line, rather than mix the widths (:class:`stream.state.StateStore`)."""


def fail_stop(exc: BaseException) -> None:
    """The worker's way out of a failed batch (:mod:`stream.agents`): nothing of it may be
    committed, so it leaves now (exit status :data:`EXIT_BATCH_FAILED`) and a restart replays
    it. A state made with other settings is a refusal: one line, exit status 2 (a bad
    setting's)."""
    refused = isinstance(exc, SettingsChanged)
    logging.getLogger("salescast.worker").critical(
        "%s: %s", "the worker refuses to run" if refused else "applying a batch failed, "
        "exiting so that nothing of it is committed", exc, exc_info=not refused and exc)
    logging.shutdown()
    os._exit(2 if refused else EXIT_BATCH_FAILED)
