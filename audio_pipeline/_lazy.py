"""Lazy package attributes (PEP 562), so importing one module does not import a whole package.

Each package ``__init__`` maps its public names to the modules that define them; a name's module
is imported the first time the name is looked up on the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, tuple[str, ...]]
                 ) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """Build ``__all__``, ``__getattr__`` and ``__dir__`` for a package.

    Args:
        package: the package's ``__name__``.
        exports: module name (relative to the package) -> public names it defines.

    Returns:
        (``__all__``, ``__getattr__``, ``__dir__``).
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(where)

    return sorted(where), __getattr__, __dir__
