"""The data sets salescast replays and backtests on: one module per data set.

:mod:`sources.online_retail` is UCI Online Retail II (fetched once into the data cache, read
back as time-ordered :class:`~contracts.events.SaleEvent`). Every module raises
:class:`~sources.errors.DatasetError` when its data cannot be fetched or read.

The package sits below ``models`` (``docs/architecture.md``): the backtests read the data sets,
and the stream's replay publishes them. It imports only :mod:`contracts` of the project (the
shape of the events it makes); callers pass the cache directory (``Settings.data_dir``).
"""

__all__: list[str] = []
