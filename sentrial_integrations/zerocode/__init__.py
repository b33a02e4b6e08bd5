"""Recording with no code change, in one place.

* :mod:`.auto` — ``auto_instrument()`` / ``uninstrument_all()``: every installed framework, through each
  framework's :class:`~sentrial_integrations.core.integration.Integration` object, on its first import.
* :mod:`.importhook` — the one-shot import hook that runs a callback right after a module's first import.
* :mod:`.autoload` — the ``.pth`` line (``SENTRIAL_TRACING=true python app.py``) and the process-wide
  switch of the LangChain configure hook; stdlib only (``setup.py`` reads it to write the ``.pth``).
* :mod:`.sitecustomize` — the bootstrap ``sentrial-integrations exec`` puts first on ``PYTHONPATH``.
"""
