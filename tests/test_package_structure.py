"""Package-wide contracts (in the spirit of scanpy's tests/test_package_structure.py)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import biobft

ROOT = Path(biobft.__file__).parent
TESTS = Path(__file__).parent

# tl functions that return a new object of another shape instead of writing into ``adata``
RETURNS_NEW = {"predict_perturbation", "evaluate_perturbation"}


def _public(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    return [(name, getattr(module, name)) for name in module.__all__]


def test_import_biobft_is_cheap():
    """``import biobft`` must not import torch (sub-packages load lazily)."""
    import subprocess
    import sys

    code = "import sys, biobft; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("name", "func"), _public("biobft.tl"))
def test_tl_follows_scanpy_contract(name, func):
    params = list(inspect.signature(func).parameters.values())
    assert params[0].name == "adata", f"biobft.tl.{name}: first parameter must be adata"
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD)
    not_kwonly = [p.name for p in params[1:] if p.kind not in kinds]
    assert not not_kwonly, f"biobft.tl.{name}: options must be keyword-only: {not_kwonly}"
    names = {p.name for p in params}
    if name not in RETURNS_NEW:
        assert {"copy", "key_added"} <= names, f"biobft.tl.{name} needs copy= and key_added="
        assert inspect.signature(func).parameters["copy"].default is False
    assert "Parameters" in (func.__doc__ or ""), f"biobft.tl.{name}: numpy docstring missing"


@pytest.mark.parametrize(("name", "func"), _public("biobft.pl"))
def test_pl_takes_ax_and_return_fig(name, func):
    params = inspect.signature(func).parameters
    for option in ("ax", "return_fig"):
        assert option in params, f"biobft.pl.{name} needs {option}="
        assert params[option].kind is inspect.Parameter.KEYWORD_ONLY


def _source_modules() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.py")
        if not p.name.startswith("_") and p.parent != ROOT and "__pycache__" not in p.parts
    )


@pytest.mark.parametrize("path", _source_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_tests_mirror_source_tree(path):
    """``biobft/<sub>/<module>.py`` is tested in ``tests/<sub>/test_<module>.py``."""
    rel = path.relative_to(ROOT)
    expected = TESTS / rel.parent / f"test_{rel.name}"
    assert expected.is_file(), f"{rel} has no test file {expected.relative_to(TESTS.parent)}"


@pytest.mark.parametrize(
    "package", sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())
)
def test_public_names_are_not_shadowed_by_submodules(package):
    """``from biobft.<pkg> import name`` gives the exported object, whatever was imported first.

    Importing a submodule binds it as an attribute of its package, so a lazily exported
    function that shares its module's name would turn into the module.
    """
    import pkgutil
    import types

    name = f"biobft.{package}"
    pkg = importlib.import_module(name)
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name != "__main__":  # running it is the point of that module
            importlib.import_module(f"{name}.{info.name}")
    for public in pkg.__all__:
        obj = getattr(pkg, public)
        assert not isinstance(obj, types.ModuleType), f"{name}.{public} is a module, not the export"


#: issue 14's splits: old import path -> {public name: the module that now defines it}
MOVED = {
    "biobft.ggi": {"cooccurrence_mask": "leakage", "leakage_share": "leakage"},
    "biobft.perturb": {"expression_matrix": "expression", "get_de_predictor": "de_predictors"},
    "biobft.perturb.conditions": {"expression_matrix": "expression"},
    "biobft.perturb.de_predictors": {
        "DEPredictor": "de_base",
        "BaseRate": "de_base",
        "neighbour_scores": "de_neighbours",
        "KNNPairs": "de_neighbours",
        "GraphPairs": "de_neighbours",
        "PairClassifier": "de_classifier",
        "Ensemble": "de_predictors",
    },
    "biobft.tl": {"rank_genes": "_rank_genes"},
}


@pytest.mark.parametrize(
    ("path", "name", "home"),
    [(path, name, home) for path, names in MOVED.items() for name, home in names.items()],
)
def test_split_modules_keep_their_import_paths(path, name, home):
    """A name moved by a split still imports from where it did, and is the object of its new
    module (one hop from the name to the file: ``obj.__module__``)."""
    package = "biobft." + path.split(".")[1]
    obj = getattr(importlib.import_module(path), name)
    assert obj is getattr(importlib.import_module(f"{package}.{home}"), name)
    assert obj.__module__ == f"{package}.{home}"


# Floors of the house, lowest first: a module may import its own floor or a lower one, never a
# higher one. The command line is the top floor; tl / pl are the AnnData and plotting layer over
# the domain packages. Run `pytest tests/test_package_structure.py -k layering` to check.
LAYERS = (
    ("_paths", "_input"),
    ("datasets", "models"),
    ("text",),
    ("embed", "train"),
    ("ggi", "perturb"),
    ("tl", "pl"),
    ("experiment", "report"),
    ("cli",),
)
RANK = {name: i for i, floor in enumerate(LAYERS) for name in floor}


def _biobft_imports(path: Path) -> set[str]:
    """Top-level biobft sub-packages/modules that ``path`` imports (also inside functions)."""
    import ast

    rel = path.relative_to(ROOT)
    parts = ["biobft", *rel.with_suffix("").parts]
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = parts if is_pkg else parts[:-1]
            base = base[: len(base) - (node.level - 1)]
            if node.module:
                names = [".".join([*base, node.module])]
            else:
                names = [".".join([*base, a.name]) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            bits = name.split(".")
            if bits[0] == "biobft" and len(bits) > 1 and not bits[1].startswith("__"):
                found.add(bits[1])
    return found


def test_layering():
    """No module imports a floor above its own (the CLI, tl and pl sit above the domain code)."""
    upward, unknown = [], set()
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if len(rel.parts) == 1 and rel.name == "__init__.py":
            continue  # biobft/__init__.py: the lazy namespace over every floor
        own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        unknown |= ({own} | _biobft_imports(path)) - RANK.keys()
        for target in _biobft_imports(path):
            if target in RANK and own in RANK and RANK[target] > RANK[own]:
                upward.append(f"{rel} imports biobft.{target} (floor {RANK[target]} > {RANK[own]})")
    assert not unknown, f"sub-packages missing from LAYERS: {sorted(unknown)}; give each a floor"
    assert not upward, "imports that reach up a floor:\n" + "\n".join(upward)


#: the doors (and the one convenience wrapper) that may read an AnnData in perturb/ and embed/
ADATA_DOORS = {
    "biobft.perturb.conditions": {"check_condition_key", "perturbation_input"},
    "biobft.perturb.expression": {"expression_matrix"},
    "biobft.perturb.pseudobulk": {"pseudobulk"},
}


@pytest.mark.parametrize("package", ["perturb", "embed"])
def test_only_the_doors_take_adata(package):
    """Issue 12: AnnData becomes arrays in one place; kernels take validated values."""
    import pkgutil

    pkg = importlib.import_module(f"biobft.{package}")
    offenders = []
    for info in pkgutil.iter_modules(pkg.__path__):
        name = f"biobft.{package}.{info.name}"
        module = importlib.import_module(name)
        for fname, obj in vars(module).items():
            if not inspect.isfunction(obj) or obj.__module__ != name:
                continue
            params = list(inspect.signature(obj).parameters)
            if params[:1] == ["adata"] and fname not in ADATA_DOORS.get(name, set()):
                offenders.append(f"{name}.{fname}")
    assert not offenders, f"functions reading an AnnData outside the doors: {offenders}"


def _lazy_packages() -> list[str]:
    """Packages whose ``__init__`` maps each exported name to its module (``_EXPORTS``)."""
    inits = sorted(p / "__init__.py" for p in ROOT.iterdir() if (p / "__init__.py").is_file())
    return [init.parent.name for init in inits if "_EXPORTS = {" in init.read_text()]


def _top_level_names(path: Path) -> set[str]:
    """Names a module defines itself (functions, classes, assignments), not those it imports."""
    import ast

    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


@pytest.mark.parametrize("package", _lazy_packages())
def test_exports_are_found_in_one_hop(package):
    """Issue 14: ``biobft.<pkg>.<name>`` is defined in the module its lazy map names (a name
    re-exported from another module would send the reader on a second hop)."""
    pkg = importlib.import_module(f"biobft.{package}")
    if hasattr(pkg, "_WHERE"):  # {module: (names, ...)} inverted to {name: module}
        where = pkg._WHERE
    else:  # {name: ".module"}
        where = {name: module.lstrip(".") for name, module in pkg._EXPORTS.items()}
    wrong = [
        f"{name} (mapped to {module}.py)"
        for name, module in where.items()
        if name not in _top_level_names(ROOT / package / f"{module}.py")
    ]
    assert not wrong, f"biobft.{package}: exports not defined where the map says: {wrong}"


#: issue 14 split long modules; each old ``module: name`` path still gives the moved object
MOVED = {
    "biobft.train.losses": {
        "biobft.train.terms": ("loss_terms", "LossTerms", "LOSS_NORMALIZATION", "BFT_VARIANTS"),
    },
    "biobft.train.data": {"biobft.train.tokenization": ("tokenize_example", "ensure_pad_token")},
    "biobft.experiment.run": {
        "biobft.experiment.settings": ("PRESETS", "ExperimentSettings"),
        "biobft.experiment.results": ("ExperimentResult",),
    },
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_moved_names_keep_their_old_import_path(old):
    module = importlib.import_module(old)
    for new, names in MOVED[old].items():
        home = importlib.import_module(new)
        for name in names:
            assert name in module.__all__, f"{old}.__all__ lost {name}"
            assert getattr(module, name) is getattr(home, name), f"{old}.{name} is not {new}.{name}"
