"""The type stubs (kos/_core.pyi) name every class, method and function of the
native module, and the package ships py.typed."""

import ast
import inspect
import pathlib

import kos
from kos import _core

PKG = pathlib.Path(kos.__file__).parent


def _stub_names():
    tree = ast.parse((PKG / "_core.pyi").read_text())
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        if isinstance(node, ast.ClassDef):
            names = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            for base in node.bases:  # members inherited from stub base classes
                if isinstance(base, ast.Name) and base.id in members:
                    names |= members[base.id]
            members[node.name] = names
    return top, members


def test_stubs_cover_the_native_module():
    assert (PKG / "py.typed").exists()
    top, members = _stub_names()
    missing = []
    for name, obj in vars(_core).items():
        if name.startswith("_"):
            continue
        if name not in top:
            missing.append(name)
            continue
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr in vars(obj):
                if not attr.startswith("_") and attr not in members[name]:
                    missing.append(f"{name}.{attr}")
    assert not missing, f"not in _core.pyi: {missing}"


def test_public_objects_have_docstrings():
    undocumented = [name for name, obj in vars(_core).items()
                    if not name.startswith("_") and (inspect.isclass(obj) or callable(obj))
                    and not (obj.__doc__ or "").strip()]
    assert not undocumented, undocumented
