"""Every command as a named function taking a :class:`asyncmig.runner.Runtime` and
returning data; the CLI (:mod:`asyncmig.cli`) renders it, the API returns it.

The submodules are imported on first use of one of their functions: ``upgrade`` need
not import the safety rules ``lint`` and ``verify`` use (time and memory of every run).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inspect import check as check
    from .inspect import current as current
    from .inspect import plan as plan
    from .inspect import status as status
    from .migrate import downgrade as downgrade
    from .migrate import ensure_version as ensure_version
    from .migrate import stamp as stamp
    from .migrate import upgrade as upgrade
    from .safety import lint as lint
    from .safety import verify as verify
    from .schema_history import log as log
    from .schema_history import status_all as status_all
    from .schema_history import validate as validate
    from .scripts import branches as branches
    from .scripts import edit as edit
    from .scripts import heads as heads
    from .scripts import history as history
    from .scripts import merge as merge
    from .scripts import revision as revision
    from .scripts import show as show

#: Function name -> the submodule that defines it.
_WHERE = {
    **dict.fromkeys(("log", "status_all", "validate"), "schema_history"),
    **dict.fromkeys(("check", "current", "plan", "status"), "inspect"),
    **dict.fromkeys(("downgrade", "ensure_version", "stamp", "upgrade"), "migrate"),
    **dict.fromkeys(("lint", "verify"), "safety"),
    **dict.fromkeys(
        ("branches", "edit", "heads", "history", "merge", "revision", "show"), "scripts"
    ),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
