"""Packaging hook (all metadata is in pyproject.toml): ships ``sentrial_integrations.pth`` into
site-packages, for ``pip install .`` (and wheels) as well as ``pip install -e .``.

The ``.pth`` line only reads ``SENTRIAL_TRACING`` and returns unless it is set; then it installs the
LangChain zero-code hook (:data:`sentrial_integrations.zerocode.autoload.PTH_LINE`), so
``SENTRIAL_TRACING=true python app.py`` records LangChain runs with no change to ``app.py``.

* Regular builds: ``build_py`` writes the file at the root of ``build_lib``, so the wheel installs it
  next to the package.
* Editable builds: setuptools' editable wheel maps only the packages, so the file is added to the
  editable wheel that ``editable_wheel`` produced (with its RECORD line), through the wheel format
  alone: nothing private of setuptools is used.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import zipfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PTH_NAME = "sentrial_integrations.pth"


def pth_content() -> bytes:
    """The line of :mod:`sentrial_integrations.zerocode.autoload` (loaded from source, stdlib only)."""
    path = os.path.join(HERE, "sentrial_integrations", "zerocode", "autoload.py")
    spec = importlib.util.spec_from_file_location("_sentrial_autoload", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return (module.PTH_LINE + "\n").encode("utf-8")


class BuildPyWithPth(build_py):
    """``build_py`` that also writes the ``.pth`` file at the root of the build (wheel) tree."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # editable wheels never look at build_lib; see EditableWheelWithPth
        target = os.path.join(self.build_lib, PTH_NAME)
        with open(target, "wb") as fh:
            fh.write(pth_content())

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.append(os.path.join(self.build_lib, PTH_NAME))
        return outputs


def add_to_wheel(wheel_path: str, name: str, data: bytes) -> None:
    """Add a root file to a wheel and to its RECORD (rewrites the archive)."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    tmp_path = wheel_path + ".tmp"
    with zipfile.ZipFile(wheel_path) as src, zipfile.ZipFile(tmp_path, "w", zipfile.ZIP_DEFLATED) as dst:
        names = src.namelist()
        if name in names:
            return
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == record:
                text = content.decode("utf-8")
                if text and not text.endswith("\n"):
                    text += "\n"
                content = (text + f"{name},sha256={digest},{len(data)}\n").encode("utf-8")
            dst.writestr(item, content)
        dst.writestr(name, data)
    os.replace(tmp_path, wheel_path)


cmdclass: dict[str, type] = {"build_py": BuildPyWithPth}

try:
    from setuptools.command.editable_wheel import editable_wheel
except ImportError:  # setuptools < 64: no PEP 660 editable installs
    pass
else:

    class EditableWheelWithPth(editable_wheel):
        """``editable_wheel`` whose wheel also carries the ``.pth`` file."""

        def run(self) -> None:
            super().run()
            dist_dir = str(self.dist_dir)
            wheels = [os.path.join(dist_dir, n) for n in os.listdir(dist_dir) if n.endswith(".whl")]
            if wheels:
                add_to_wheel(max(wheels, key=os.path.getmtime), PTH_NAME, pth_content())

    cmdclass["editable_wheel"] = EditableWheelWithPth

setup(cmdclass=cmdclass)
