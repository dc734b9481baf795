"""User code that a config or the command line names, the one place it is imported:
`package.module:callable` (a game's `env` and `outcome`, looked up in the working
directory first, as `python -m` does) or `path/to/file.py:callable` (a bot file)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class UserCodeError(ValueError):
    """The code cannot be found or imported, or the name is no callable of it."""


def load_callable(name: str) -> Callable[..., Any]:
    """Import `package.module:callable` or `path/to/file.py:callable`; errors say which."""
    where, sep, attr = name.rpartition(":")
    if where.endswith(".py"):
        return _from_file(Path(where), attr)
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise UserCodeError(
            f"{name!r} is not of the form 'package.module:callable' or 'path/to/file.py:callable'"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UserCodeError(f"cannot import {module_name!r}: {err}") from None
    return _callable(module, attr, f"{module_name!r} has no callable {attr!r}")


def _from_file(file: Path, attr: str) -> Callable[..., Any]:
    """The callable `attr` of a Python file, imported under a name of its own."""
    if not file.is_file():
        raise UserCodeError(f"file {file} does not exist")
    module_spec = importlib.util.spec_from_file_location(f"league_user_code_{file.stem}", file)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:
        raise UserCodeError(f"file {file} failed to import: {type(err).__name__}: {err}") from err
    return _callable(module, attr, f"file {file} has no function {attr!r}")


def _callable(module: Any, attr: str, missing: str) -> Callable[..., Any]:
    target = getattr(module, attr, None)
    if not callable(target):
        raise UserCodeError(missing)
    return target
