"""The import layering of DESIGN.md, enforced (issue 14): arrows only run down.

* the core (errors, clock, subject, crypto, ledger, stores, checks, chunks, config, schemas,
  rules, stats, workdays, risks) imports no duty and nothing of the top floor;
* a duty (consent, agreements, minors, moderation, incidents, training, evaluation,
  labelling) imports nothing of the top floor (compliance, guard, asgi, cli, reports,
  testing), and another duty only through that duty's public package, never its private
  modules;
* nothing outside a core package reaches into its private modules.

Every import counts, also the ones inside functions (lazy imports are still arrows).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "genai_compliance"
CORE = {"errors", "clock", "subject", "crypto", "ledger", "stores", "checks", "chunks",
        "context", "config", "schemas", "rules", "stats", "workdays", "risks", "_exports",
        "_fork", "_version"}
DUTIES = {"consent", "agreements", "minors", "moderation", "incidents", "training",
          "interaction", "privacy", "evaluation", "labelling"}
TOP = {"compliance", "guard", "asgi", "cli", "reports", "testing", "__main__", "__init__"}


def _unit(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _targets(path: Path, node: ast.Import | ast.ImportFrom) -> list[list[str]]:
    """The genai_compliance module paths an import names (without the package prefix)."""
    rel = list(path.relative_to(ROOT).with_suffix("").parts)
    package = rel[:-1]
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1:] for a in node.names
                if a.name.split(".")[0] == "genai_compliance"]
    if node.level == 0:
        module = node.module or ""
        if module.split(".")[0] != "genai_compliance":
            return []
        base = module.split(".")[1:]
    else:
        base = package[: len(package) - (node.level - 1)] + (
            node.module.split(".") if node.module else [])
    if node.module is None:
        return [[*base, a.name] for a in node.names]
    return [base]


def _violations() -> list[str]:
    found: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        src = _unit(path)
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for parts in _targets(path, node):
                if not parts or parts[0] == src:
                    continue
                dst, name = parts[0], ".".join(parts)
                private = len(parts) > 1 and parts[1].startswith("_")
                if src in CORE and (dst in DUTIES or dst in TOP):
                    found.append(f"core {where} imports {name}")
                elif src in DUTIES and dst in TOP:
                    found.append(f"duty {where} imports the top floor: {name}")
                elif src in DUTIES and dst in DUTIES and private:
                    found.append(f"duty {where} reaches into another duty: {name}")
                elif dst in CORE and private and dst not in ("_exports", "_fork", "_version"):
                    found.append(f"{where} reaches into a core package's private {name}")
    return found


def test_every_module_is_on_a_floor() -> None:
    """Each top-level module or package of genai_compliance is classified."""
    units = {_unit(p) for p in ROOT.rglob("*.py")}
    assert units <= CORE | DUTIES | TOP, sorted(units - CORE - DUTIES - TOP)


def test_imports_only_run_down() -> None:
    """No import runs back up a floor or into another package's private modules."""
    assert _violations() == []


def test_the_rule_registry_imports_no_duty() -> None:
    """The core's rule registry answers without importing a duty (the table of every
    implementation is computed on the top floor, genai_compliance.reports), and the old
    entry point is deprecated with a warning naming the new one."""
    import subprocess
    import sys

    code = ("import sys, genai_compliance.rules as r; r.registered(); "
            "print(sorted(m for m in sys.modules if m.startswith('genai_compliance.') and "
            "m.split('.')[1] in {'minors', 'consent', 'moderation', 'incidents', "
            "'labelling', 'guard', 'asgi', 'reports'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
    import pytest

    from genai_compliance import rules
    from genai_compliance.reports import implementations

    with pytest.warns(DeprecationWarning, match=r"genai_compliance\.reports\.implementations"):
        old = rules.implementations()
    assert old == implementations() and old["LM-9"]
