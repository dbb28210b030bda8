"""What the PyInstaller recipe puts into the bundle, kept apart so tests can read it.

Plain Python (no PyInstaller import): ``cryoplan.spec`` and tests/packaging both
import it. Paths are relative to the repository root.
"""

from __future__ import annotations

#: Name of the bundle folder and of its executable.
APP_NAME = "cryoplan-planner"

#: Script PyInstaller starts from (a thin wrapper around cryoplan_app.launcher).
ENTRY_SCRIPT = "packaging/cryoplan_planner.py"

#: Our packages; every submodule is collected because the command line imports its
#: subcommand modules by name (planning_core.cli.CORE_COMMAND_MODULES), which
#: PyInstaller's import analysis cannot follow.
OWN_PACKAGES = ("planning_core", "cryoplan_app", "cryoplan_samples")

#: Data files the code reads at run time (importlib.resources), as (source, folder in
#: the bundle). tests/packaging checks that this covers every non-Python file of
#: OWN_PACKAGES and every resources.files(...) path in the code.
DATA_FILES = (
    ("planning_core/thermal/data/probes.json", "planning_core/thermal/data"),
    ("planning_core/thermal/data/tissues.json", "planning_core/thermal/data"),
)

#: Distributions whose metadata (dist-info) the bundle keeps: ours for the
#: ``cryoplan.commands`` entry points (``cryoplan gui``, ``cryoplan sample-data``)
#: and the ``cryoplan.case_sources`` ones (the sample cases), pylibjpeg's plugins
#: because pydicom finds the JPEG / JPEG 2000 / RLE decoders through entry points,
#: and the packages that read their own version at import time.
METADATA_DISTRIBUTIONS = (
    "cryoplanner",
    "pylibjpeg",
    "pylibjpeg-libjpeg",
    "pylibjpeg-openjpeg",
    "pylibjpeg-rle",
    "pydicom",
    "highdicom",
    "numba",
    "llvmlite",
    "scikit-image",
    "imageio",
    "reportlab",
)

#: Plugin modules found only through entry points (PyInstaller cannot see them).
PLUGIN_MODULES = ("libjpeg", "openjpeg", "rle", "pylibjpeg")

#: Modules the application never uses that optional imports in numpy, scipy, numba,
#: matplotlib, skimage or PIL would otherwise drag in (test frameworks, other GUI
#: toolkits, notebooks). The Qt modules the app does not import (WebEngine, Qt3D,
#: QML/Quick, Multimedia...) are not collected in the first place; they are listed
#: so that no hook brings them in.
EXCLUDED_MODULES = (
    "tkinter",
    "_tkinter",
    "PIL.ImageTk",
    "matplotlib.backends.backend_tkagg",
    "matplotlib.backends.backend_tkcairo",
    "matplotlib.backends._backend_tk",
    "matplotlib.backends.backend_webagg",
    "matplotlib.backends.backend_gtk3agg",
    "matplotlib.backends.backend_gtk4agg",
    "matplotlib.backends.backend_wxagg",
    "pytest",
    "_pytest",
    "pytestqt",
    "pytest_xvfb",
    "pyvirtualdisplay",
    "importlinter",
    "grimp",
    "IPython",
    "ipykernel",
    "jupyter_client",
    "notebook",
    "sphinx",
    "docutils",
    "numpy.tests",
    "scipy.tests",
    "skimage.data",
    "PyInstaller",
    "setuptools",
    "pip",
    "PyQt6.QtWebEngineCore",
    "PyQt6.QtWebEngineWidgets",
    "PyQt6.QtWebEngineQuick",
    "PyQt6.Qt3DCore",
    "PyQt6.Qt3DRender",
    "PyQt6.QtQml",
    "PyQt6.QtQuick",
    "PyQt6.QtQuickWidgets",
    "PyQt6.QtMultimedia",
    "PyQt6.QtBluetooth",
    "PyQt6.QtDesigner",
    "PyQt6.QtPdf",
)

#: Shared libraries and Qt plugins the application never loads, as glob patterns on
#: their path inside the bundle: Qt's platforms for embedded screens without a window
#: system (EGLFS, LinuxFB, VNC, Vulkan display) and their input plugins, and the PDF
#: image format (reports are written by reportlab, never read by Qt). X11 (xcb),
#: Wayland, offscreen and minimal stay.
EXCLUDED_BINARIES = (
    "PyQt6/Qt6/plugins/platforms/libqeglfs.so",
    "PyQt6/Qt6/plugins/platforms/libqminimalegl.so",
    "PyQt6/Qt6/plugins/platforms/libqlinuxfb.so",
    "PyQt6/Qt6/plugins/platforms/libqvnc.so",
    "PyQt6/Qt6/plugins/platforms/libqvkkhrdisplay.so",
    "PyQt6/Qt6/plugins/egldeviceintegrations/*",
    "PyQt6/Qt6/plugins/generic/*",
    "PyQt6/Qt6/lib/libQt6EglFSDeviceIntegration.so*",
    "PyQt6/Qt6/plugins/imageformats/libqpdf.so",
    "PyQt6/Qt6/lib/libQt6Pdf.so*",
)
