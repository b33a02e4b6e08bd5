"""Kept for old imports: see :mod:`sentrial_integrations.zerocode.auto`."""

from .zerocode.auto import FRAMEWORKS, auto_instrument, instrumented, uninstrument_all

__all__ = ["FRAMEWORKS", "auto_instrument", "instrumented", "uninstrument_all"]
