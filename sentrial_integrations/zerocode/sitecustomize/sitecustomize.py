"""Loaded by Python at start-up in programs launched with ``sentrial-integrations run`` (this folder is
put first on ``PYTHONPATH``). Runs the ``sitecustomize`` it shadows, if any, then starts Sentrial's
auto-instrumentation. Never fails the program: an error of ours is only logged (an error of the
shadowed ``sitecustomize`` is raised as Python would have raised it).
"""

import os
import sys


def _chain() -> None:
    """Run the next ``sitecustomize`` on ``sys.path`` (the one this file hides), like Python would."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("sitecustomize", None)
        raise


def _main() -> None:
    error = None
    try:
        _chain()
    except BaseException as exc:
        error = exc
    try:
        from sentrial_integrations.zerocode.sitecustomize import start

        start()
    except Exception as exc:  # sentrial_integrations not importable by this interpreter, ...
        try:
            import logging

            logging.getLogger("sentrial_integrations").debug("Sentrial: auto-instrumentation off: %r", exc)
        except Exception:
            pass
    if error is not None:
        raise error


_main()
