"""Headless engine of the cryoablation planner.

Imaging, segmentation, bioheat simulation, planning and reporting, usable from
scripts, the ``cryoplan`` command line and tests. Never imports Qt or VTK.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cryoplanner")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
