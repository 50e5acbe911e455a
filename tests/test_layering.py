"""Which package may import which: the catalogue never imports ingest (ingest answers its hooks), and
the core and the app factory name no domain (domains plug themselves in). Read from the sources."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Domain packages (exchange.policy is not one: it is the decision point every domain uses).
DOMAINS = ("auth", "exchange.catalog", "exchange.ingest", "exchange.licensing", "exchange.trading", "exchange.metering",
           "exchange.sharing", "exchange.web")


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a source file imports, at the top or inside a function (relative ones resolved)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def offending_imports(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in files:
        package = ".".join(path.relative_to(ROOT).parts[:-1])
        found += [f"{path.relative_to(ROOT)}: {name}" for name in imported_modules(path.read_text(), package)
                  if any(name == f or name.startswith(f + ".") for f in forbidden)]
    return sorted(found)


def test_the_catalogue_does_not_import_ingest():
    files = sorted((ROOT / "exchange" / "catalog").rglob("*.py"))
    assert len(files) > 10
    assert offending_imports(files, ("exchange.ingest",)) == []


@pytest.mark.parametrize("files", [sorted((ROOT / "exchange" / "core").rglob("*.py")), [ROOT / "app.py"]],
                         ids=["exchange/core", "app.py"])
def test_the_core_and_the_app_factory_name_no_domain(files):
    assert offending_imports(files, DOMAINS) == []


@pytest.mark.parametrize("source", [
    "def publish(item):\n    from exchange.ingest.pipeline import not_ready\n",
    "import exchange.ingest.models\n",
    "from ..ingest import service\n",
])
def test_the_walk_finds_every_form_of_import(source):
    """Function-local imports (how the catalogue used to reach ingest), plain and relative ones."""
    assert any(name.startswith("exchange.ingest") for name in imported_modules(source, "exchange.catalog"))
