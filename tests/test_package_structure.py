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
        importlib.import_module(f"{name}.{info.name}")
    for public in pkg.__all__:
        obj = getattr(pkg, public)
        assert not isinstance(obj, types.ModuleType), f"{name}.{public} is a module, not the export"


#: the doors (and the one convenience wrapper) that may read an AnnData in perturb/ and embed/
ADATA_DOORS = {
    "biobft.perturb.conditions": {"check_condition_key", "expression_matrix", "perturbation_input"},
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
