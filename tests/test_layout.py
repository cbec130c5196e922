"""The package's layout as the README's Development tree states it: who may import whom.

Every module of ``avalanche_clip`` is read with ``ast`` (nothing is imported) and each import of
another part of the package, at the top or inside a function, is checked against
:data:`MAY_IMPORT`. A new package, or a new dependency between packages, therefore changes this
table and the README's tree together.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "avalanche_clip"

HELPERS = frozenset({"_atomic", "_checks", "_checksums"})
"""The private helper modules at the package's top; anyone may import them, they import only each other."""

_BELOW_EXPERIMENT = frozenset({"models", "distributed", "benchmarks", "benchmarks/datasets", "benchmarks/world",
                               "training", "evaluation", "results", "checkpointing"})

MAY_IMPORT: dict[str, frozenset[str]] = {
    "models": frozenset(),
    "distributed": frozenset(),
    "benchmarks/datasets": frozenset(),
    "benchmarks": frozenset({"benchmarks/datasets", "models"}),
    "benchmarks/world": frozenset({"benchmarks", "benchmarks/datasets", "models"}),
    "training": frozenset({"models", "distributed", "benchmarks", "benchmarks/datasets", "benchmarks/world"}),
    "evaluation": frozenset({"models", "distributed", "benchmarks/datasets"}),
    "results": frozenset({"evaluation"}),
    "checkpointing": frozenset({"training", "models", "distributed"}),
    "experiment": _BELOW_EXPERIMENT,
    "configs": frozenset(),
    "cli": frozenset({"benchmarks", "benchmarks/world", "configs", "experiment", "results"}),
    "__main__": frozenset({"cli"}),
    "": frozenset(),  # avalanche_clip/__init__.py
}
"""Each part of the package -> the other parts it may import (besides the helpers)."""

ONLY_MODULES: dict[tuple[str, str], frozenset[str]] = {
    ("results", "evaluation"): frozenset({"avalanche_clip.evaluation.names",
                                          "avalanche_clip.evaluation.metrics.mtil_matrix"}),
}
"""(part, other part) -> the only modules of the other part it may import: results/ reads the metrics' names
(and MTIL's Transfer / Avg / Last, which its report computes for the zero-shot row)."""

OUTSIDE = frozenset({"bench", "examples", "tests", "conftest", "world_pretraining"})
"""Top-level folders of the repository that are not installed: the package never imports them."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """The layout part of a dotted module name (``avalanche_clip.benchmarks.world.load`` -> ``benchmarks/world``)."""
    parts = module.split(".")[1:]
    if not parts:
        return ""
    if parts[0] in HELPERS:
        return "helpers"
    if parts[0] == "cli":
        return "cli"
    if parts[0] == "benchmarks" and len(parts) > 1 and parts[1] in ("datasets", "world"):
        return f"benchmarks/{parts[1]}"
    return parts[0]


def _imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, dotted module)`` of every import in ``source`` (the text of ``module``), relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if node.module is None:  # from . import x: x is a module of the package
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return found


def _violations(source: str, module: str, is_package: bool) -> list[str]:
    """The imports of ``module`` that its part may not make."""
    own = _part(module)
    allowed = {"helpers"} if own == "helpers" else MAY_IMPORT[own] | {"helpers", own}
    wrong = []
    for line, target in _imports(source, module, is_package):
        root = target.split(".")[0]
        if root in OUTSIDE:
            wrong.append(f"line {line}: {target} (not installed)")
        elif root == "avalanche_clip" and _part(target) not in allowed:
            wrong.append(f"line {line}: {target} ({_part(target)!r} is not in {own!r}'s MAY_IMPORT)")
        elif root == "avalanche_clip" and target not in ONLY_MODULES.get((own, _part(target)), {target}):
            wrong.append(f"line {line}: {target} (not in ONLY_MODULES of {own!r})")
    return wrong


def _package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_is_in_the_table():
    parts = {_part(_module_name(path)) for path in _package_files()} - {"helpers"}
    assert parts <= set(MAY_IMPORT), f"add {sorted(parts - set(MAY_IMPORT))} to MAY_IMPORT and the README's tree"


@pytest.mark.parametrize("path", _package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_what_its_part_may(path):
    wrong = _violations(path.read_text(), _module_name(path), path.name == "__init__.py")
    assert not wrong, f"{path.relative_to(ROOT)}: " + "; ".join(wrong)


def test_the_checker_reports_an_upward_import_and_accepts_an_allowed_one():
    source = ("from ...results import write_report\nfrom ..names import ORIGINAL\n"
              "def f():\n    from avalanche_clip.experiment import run\n    import bench.common\n")
    wrong = _violations(source, "avalanche_clip.evaluation.metrics.zeroshot", False)
    assert [w.split(":")[0] for w in wrong] == ["line 1", "line 4", "line 5"]
    assert "avalanche_clip.results ('results' is not in 'evaluation'" in wrong[0]
    assert _violations("from ..evaluation.names import ORIGINAL\n", "avalanche_clip.results.summary", False) == []
    assert _violations("from ..evaluation import zeroshot_metrics\n", "avalanche_clip.results.summary", False)
    assert _part("avalanche_clip.benchmarks.world.load") == "benchmarks/world"
    assert _part("avalanche_clip._atomic") == "helpers"


def test_the_report_command_imports_only_the_results_package():
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    report = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "report")
    imports = [node for node in ast.walk(report) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports and all(isinstance(node, ast.ImportFrom) and node.level == 1 and node.module == "results"
                           for node in imports)


def test_file_names_are_unique_across_the_package():
    names = Counter(path.name for path in _package_files() if path.name != "__init__.py")
    assert [name for name, count in names.items() if count > 1] == []
