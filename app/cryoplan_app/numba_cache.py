"""Where the standalone application keeps numba's compiled kernels.

numba keys its default cache folders on the absolute path of each kernel's
source file. In a PyInstaller bundle that path is relative to the working
directory ("planning_core/thermal/kernels.py"), so the kernels would be
recompiled (several seconds) whenever the application starts from another
folder, and ``NUMBA_CACHE_DIR`` would be ignored because that relative file does
not exist. :class:`BundleCacheLocator` puts the cache in ``NUMBA_CACHE_DIR``
under the module's name instead; numba loads it through
``NUMBA_CACHE_LOCATOR_CLASSES``, which :mod:`cryoplan_app.launcher` sets in the
bundle only. Freshness stays numba's frozen-application rule: the cache is valid
for one executable (whose archive holds the kernels' code), so an upgrade
recompiles once.
"""

from __future__ import annotations

import os
import sys
from pathlib import PurePath

from numba.core import config
from numba.core.caching import UserWideCacheLocator


class BundleCacheLocator(UserWideCacheLocator):
    """Cache of a frozen application's kernel in ``NUMBA_CACHE_DIR/<package path>``."""

    def __init__(self, py_func, py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        package = PurePath(py_file).parent.parts or ("top",)
        self._cache_path = os.path.join(config.CACHE_DIR, ".".join(package))

    def get_cache_path(self) -> str:
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file: str) -> BundleCacheLocator | None:
        """A locator for kernels of a frozen application, else None (numba tries the next)."""
        if not getattr(sys, "frozen", False) or not config.CACHE_DIR or os.path.isabs(py_file):
            return None
        locator = cls(py_func, py_file)
        try:
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator
