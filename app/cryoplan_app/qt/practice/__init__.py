"""Training in the window: the practice controller, the Practice panel, the Training menu's
actions and the practice dialogs; the main window composes them.
"""

from cryoplan_app.qt.practice.controller import PracticeController
from cryoplan_app.qt.practice.menu import TrainingActions
from cryoplan_app.qt.practice.panel import PracticePanel

__all__ = ["PracticeController", "PracticePanel", "TrainingActions"]
