"""The one exception our code raises into the caller's: only in ``strict`` mode."""


class SentrialUsageError(ValueError):
    """Raised instead of a warning when the client is in ``strict`` mode."""
