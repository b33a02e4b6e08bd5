"""The package's folders are its layers, and the imports say so (read from the source with ``ast``).

* ``core/`` imports nothing outside ``core/`` and no framework;
* a translator (``langchain/``, ``openai/``, ``llamaindex/``) imports ``core/`` and ``zerocode/`` but
  never another translator;
* ``zerocode/`` reaches the translators only through their ``integration`` modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "sentrial_integrations"
TRANSLATORS = ("langchain", "openai", "llamaindex")
FRAMEWORKS = ("langchain", "langchain_core", "langgraph", "openai", "llama_index", "workflows")


def _module_name(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _imports(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (lazy imports inside functions included)."""
    name, is_pkg = _module_name(path)
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            # ``from . import x`` imports the submodule x
            out.extend(f"{mod}.{a.name}" for a in node.names)
    return out


def _sources(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


def _ours(imported: str) -> bool:
    return imported == "sentrial_integrations" or imported.startswith("sentrial_integrations.")


def _is_module(imported: str) -> bool:
    """``sentrial_integrations.core.model`` is a module; ``...core.model.EVENT`` (a name) is not."""
    rel = imported.split(".")[1:]
    path = PKG.joinpath(*rel)
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


@pytest.mark.parametrize("path", _sources("core"), ids=lambda p: str(p.relative_to(PKG)))
def test_core_imports_nothing_outside_core_and_no_framework(path: Path) -> None:
    for imported in _imports(path):
        top = imported.split(".")[0]
        assert top not in FRAMEWORKS, f"{path.relative_to(PKG)} imports the framework module {imported}"
        if _ours(imported) and _is_module(imported):
            assert imported.startswith("sentrial_integrations.core"), (
                f"{path.relative_to(PKG)} imports {imported}, outside core/"
            )


@pytest.mark.parametrize("translator", TRANSLATORS)
def test_a_translator_never_imports_another(translator: str) -> None:
    others = [t for t in TRANSLATORS if t != translator]
    for path in _sources(translator):
        for imported in _imports(path):
            for other in others:
                assert not imported.startswith(f"sentrial_integrations.{other}"), (
                    f"{path.relative_to(PKG)} imports {imported}"
                )


#: the ``.pth`` bootstrap registers LangChain's configure hook itself (it runs before any code of the user's)
_ZEROCODE_EXTRA = {
    "zerocode/autoload.py": {"sentrial_integrations.langchain", "sentrial_integrations.langchain.hook"}
}


def test_zerocode_reaches_translators_only_through_their_integration_objects() -> None:
    for path in _sources("zerocode"):
        allowed = _ZEROCODE_EXTRA.get(str(path.relative_to(PKG)), set())
        for imported in _imports(path):
            for t in TRANSLATORS:
                if imported.startswith(f"sentrial_integrations.{t}") and imported not in allowed:
                    assert imported == f"sentrial_integrations.{t}.integration", (
                        f"{path.relative_to(PKG)} imports {imported}"
                    )
