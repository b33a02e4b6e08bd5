"""Kept for old imports: the embedded store lives in :mod:`sentrial_integrations.core.store`."""

from .core.store import *  # noqa: F403
