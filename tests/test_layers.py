"""The layer order of docs/architecture.md, checked against every import in the package (those inside functions too)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import cimgen

PACKAGE = Path(cimgen.__file__).parent

# Floor of each top-level part, bottom to top, as docs/architecture.md states it.
FLOORS = {
    "errors": 0, "config": 0, "palette": 0, "kinds": 0, "textfiles": 0,
    "io": 1,
    "nn": 2, "models": 3, "losses": 4,
    "data": 5, "metrics": 5,
    "train": 6,
    "generators": 7,
    "edit": 8, "forensics": 8, "singan": 8,
    "report": 9,
    "runs": 10,
    "cli": 11, "app": 11,
    "__main__": 12,
    "__init__": 0,  # the package face: its version
}  # fmt: skip
INFERENCE = {"load_label_generator", "generate", "label_renderer", "load_image_generator", "translate", "translator", "load_renderer"}


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports() -> list[tuple[str, str, int, list[str]]]:
    """(importing module, imported cimgen module, line, names) for every import of a cimgen module."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cimgen"):
                names = [a.name for a in node.names]
                if node.module == "cimgen":  # `from cimgen import x`: x is a module, or a name of the package itself
                    found += [(module, f"cimgen.{n}" if (PACKAGE / n).exists() or (PACKAGE / f"{n}.py").exists() else "cimgen", node.lineno, [n]) for n in names]
                else:
                    found.append((module, node.module, node.lineno, names))
            elif isinstance(node, ast.Import):
                found += [(module, a.name, node.lineno, []) for a in node.names if a.name.startswith("cimgen.")]
    return found


def test_every_part_has_a_floor():
    parts = {_part(m) for m, *_ in _imports()} | {_part(t) for _, t, *_ in _imports()}
    assert parts <= set(FLOORS), parts - set(FLOORS)


def test_no_import_runs_up_the_layers():
    upward = [
        f"{m}:{line} imports {target}"
        for m, target, line, _ in _imports()
        if FLOORS[_part(target)] > FLOORS[_part(m)]
    ]
    assert not upward, "\n".join(upward)


def test_nothing_outside_train_imports_inference_from_train():
    wrong = [
        f"{m}:{line} imports {sorted(set(names) & INFERENCE)} from {target}"
        for m, target, line, names in _imports()
        if target.startswith("cimgen.train") and not m.startswith("cimgen.train") and set(names) & INFERENCE
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_an_upward_import(tmp_path):
    """The scan reads imports inside functions too (a lazy import does not make a module lower)."""
    tree = ast.parse("def f():\n    from cimgen.runs.manipulate import run_manipulation\n")
    inner = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert inner and FLOORS[_part(inner[0].module)] > FLOORS["edit"]


def test_no_function_in_src_is_longer_than_150_lines():
    """Issue 26: a function that needs more than 150 lines does more than one thing (typer options go in aliases)."""
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 150:
                too_long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not too_long, too_long


OPTIONAL = ("rasterio", "shapely", "pyogrio", "matplotlib", "ray", "gradio", "torch.distributed", "torch.utils.tensorboard")
"""Extras imported where they are used (docs/architecture.md): geodata, figures, batches on Ray, the web page,
distributed training and TensorBoard. Everything else is imported at the top of its module, where the graph shows it."""


def test_imports_sit_at_module_top_outside_cli_but_for_optional_extras():
    """Issue 26: an import inside a function hides the module graph; only cli/ (so that ``cimgen --help`` stays light)
    and the optional extras import lazily."""
    lazy = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                    lazy += [f"{path.relative_to(PACKAGE)}:{node.lineno} {n}" for n in names if not n.startswith(OPTIONAL)]
    assert not lazy, lazy


def test_the_lazy_import_check_sees_one(tmp_path, monkeypatch):
    (tmp_path / "cimgen").mkdir()
    (tmp_path / "cimgen" / "bad.py").write_text("def f():\n    import json\n    import rasterio\n    return json\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "cimgen")
    try:
        test_imports_sit_at_module_top_outside_cli_but_for_optional_extras()
    except AssertionError as e:
        assert "bad.py:2 json" in str(e) and "rasterio" not in str(e)
    else:
        raise AssertionError("the check missed an import inside a function")
