"""Exporters: they only know how to send a batch of records somewhere (see :mod:`.base`)."""
