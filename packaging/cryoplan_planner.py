"""Entry script of the PyInstaller bundle: ``cryoplan-planner`` (see cryoplan_app.launcher)."""

import sys

from cryoplan_app.launcher import main

if __name__ == "__main__":
    sys.exit(main())
