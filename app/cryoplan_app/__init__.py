"""The cryoablation planner's desktop application (PyQt6 + VTK).

Three layers, each importing only the ones below it:

* :mod:`cryoplan_app.model`: the headless, evented session state (no Qt, no VTK),
  testable without a display;
* :mod:`cryoplan_app.render`: VTK scene building blocks (no Qt);
* :mod:`cryoplan_app.qt`: thin widgets that draw the model and forward user input to it.

``cryoplan gui [CASE]`` (see :mod:`cryoplan_app.commands`) starts the window.
"""
