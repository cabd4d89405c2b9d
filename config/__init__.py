"""Configuration: one frozen, typed :class:`~config.settings.Settings` object per process.

The bottom of the import graph with :mod:`contracts` (``docs/architecture.md``): it imports
nothing of the project.
"""

from config.settings import (
    DEFAULT_PARTITIONS,
    ENV_VARS,
    ConfigError,
    Settings,
    cache_root,
    load_settings,
)
from config.table import settings_table

__all__ = ["Settings", "ConfigError", "load_settings", "cache_root", "settings_table", "ENV_VARS",
           "DEFAULT_PARTITIONS"]
