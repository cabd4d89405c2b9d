"""The one exception of the ``sources`` package."""

__all__ = ["DatasetError"]


class DatasetError(Exception):
    """A data set could not be fetched, or a file is not what it should be (message: one short
    line)."""
