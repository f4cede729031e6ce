"""ELM operators, one module per family; importing this package registers all of them.

Every module in this package is imported (including the temporal family's `datetime` and
`intervals`), so adding a module is enough to register its operators.
"""

from __future__ import annotations

import importlib
import pkgutil

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_mod}")
