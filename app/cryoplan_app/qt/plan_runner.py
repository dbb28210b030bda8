"""The pause before a full evaluation: a Qt timer in front of the evaluation logic.

:class:`~cryoplan_app.logic.evaluation.EvaluationLogic` says when an
evaluation is due (``settle_requested``) or no longer is (``settle_cancelled``);
the evaluation starts once the edits paused for :data:`SETTLE_MS` (typing a
protocol, a drag's last steps), so that a burst of edits costs one simulation.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, QTimer

from cryoplan_app.logic.evaluation import EvaluationLogic

#: Pause after the last edit before the full evaluation starts (ms).
SETTLE_MS = 400


class SettleTimer(QObject):
    """Starts ``evaluation.evaluate_now()`` :data:`SETTLE_MS` after the last request."""

    def __init__(self, evaluation: EvaluationLogic, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SETTLE_MS)
        self.timer.timeout.connect(evaluation.evaluate_now)
        evaluation.settle_requested.connect(self.timer.start)
        evaluation.settle_cancelled.connect(self.timer.stop)
