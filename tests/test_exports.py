"""One front door per package (issue 14, STYLE 1-2): every package's ``__all__`` is sorted,
names only what the package defines, leaves no public name out, exports nothing private,
and its classes and functions carry the package's name."""

from __future__ import annotations

import importlib
import types

import pytest

from genai_compliance._exports import sort_key

PACKAGES = [
    "genai_compliance",
    "genai_compliance.agreements",
    "genai_compliance.consent",
    "genai_compliance.crypto",
    "genai_compliance.evaluation",
    "genai_compliance.incidents",
    "genai_compliance.interaction",
    "genai_compliance.labelling",
    "genai_compliance.labelling.explicit",
    "genai_compliance.labelling.implicit",
    "genai_compliance.ledger",
    "genai_compliance.minors",
    "genai_compliance.moderation",
    "genai_compliance.privacy",
    "genai_compliance.reports",
    "genai_compliance.schemas",
    "genai_compliance.stores",
    "genai_compliance.testing",
    "genai_compliance.training",
]


def _module(name: str) -> types.ModuleType:
    return importlib.import_module(name)


def _defined_in(obj: object, package: str) -> bool:
    """Whether ``obj`` comes from ``package`` itself (imports from elsewhere — typing, other
    duties — are the package's own business)."""
    home = getattr(obj, "__module__", None)
    if not isinstance(home, str) or not (isinstance(obj, type) or callable(obj)):
        return False
    return home == package or home.startswith(package + ".")


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_complete(package: str) -> None:
    """``__all__`` is sorted and unique, every name resolves, and no public name of the
    namespace is left out of it (imports the package needs are kept private)."""
    module = _module(package)
    names = list(module.__all__)
    assert names == sorted(set(names), key=sort_key), "sort __all__ (ruff RUF022 order)"
    for name in names:
        assert getattr(module, name, None) is not None, name
    public = {n for n, v in vars(module).items()
              if not n.startswith("_") and not isinstance(v, types.ModuleType)
              and _defined_in(v, package)}
    assert public <= set(names), f"public but not exported: {sorted(public - set(names))}"
    assert not [n for n in names if n.startswith("_") and n != "__version__"]


@pytest.mark.parametrize("package", PACKAGES)
def test_exports_carry_the_package_name(package: str) -> None:
    """Tracebacks and reprs show the public path, not a private module."""
    module = _module(package)
    for name in module.__all__:
        obj = getattr(module, name)
        home = getattr(obj, "__module__", None)
        if isinstance(obj, type | types.FunctionType):
            assert home is not None
            assert "._" not in home, f"{package}.{name} shows its private module {home}"


def test_deprecated_alias_warns_and_names_the_replacement() -> None:
    """``incidents.SubjectStanding`` still works, with a DeprecationWarning naming
    ``Standing``."""
    import genai_compliance.incidents as incidents

    with pytest.warns(DeprecationWarning, match="use genai_compliance.incidents.Standing"):
        alias = incidents.SubjectStanding
    assert alias is incidents.Standing
