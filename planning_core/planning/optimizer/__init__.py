"""Plan optimizer: probe count, directions, tips and freeze; verified; robustness.

See :mod:`planning_core.planning.optimizer.optimize` for the order of work.
"""

from planning_core.planning.optimizer.optimize import OptimizationResult, optimize_plan
from planning_core.planning.optimizer.robustness import RobustnessResult, assess_robustness

__all__ = ["OptimizationResult", "RobustnessResult", "assess_robustness", "optimize_plan"]
