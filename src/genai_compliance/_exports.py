"""One front door per package (STYLE 1, 2): :func:`publish` is called at the end of each
package's ``__init__`` with its literal ``__all__``.

It sets ``__module__`` of every exported class and function defined in one of the package's
own modules to the package's name, so tracebacks and reprs show
``genai_compliance.consent.ConsentService`` rather than a private module. A name in
``__all__`` that the package does not define is refused at import, with a clear message.
``tests/test_exports.py`` checks the rest: every ``__all__`` sorted, no public name outside
it, nothing private exported.

.. versionadded:: 0.2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["deprecated", "publish", "sort_key"]


def deprecated(old: str, new: str) -> None:
    """Warn (``DeprecationWarning``) that ``old`` is deprecated, naming its replacement
    ``new``; the warning points at the code that called ``old``."""
    import warnings

    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)


def sort_key(name: str) -> tuple[int, str]:
    """The order of an ``__all__`` (as ruff's RUF022 sorts it): CONSTANTS, Classes, others."""
    if name.isupper() and len(name) > 1:
        return 0, name
    if name[:1].isupper():
        return 1, name
    return 2, name


def publish(package: str, namespace: Mapping[str, Any], names: Sequence[str]) -> None:
    """Give the exported objects of ``package`` their public module name."""
    for name in names:
        if name not in namespace:
            raise ImportError(f"{package}.__all__ lists {name!r}, which {package} does not "
                              "define; import it in the package's __init__ or drop it")
        obj = namespace[name]
        module = getattr(obj, "__module__", None)
        if not (isinstance(obj, type) or callable(obj)) or not isinstance(module, str):
            continue
        if module.startswith(package + "."):  # defined in one of the package's modules
            try:
                obj.__module__ = package
            except (AttributeError, TypeError):  # e.g. a builtin or a frozen type
                pass
