"""Declared ranges of numeric planning parameters, shared by validation and user interfaces."""

from __future__ import annotations

import math
from dataclasses import dataclass

from planning_core.errors import InvalidParameterError


@dataclass(frozen=True)
class ParameterRange:
    """The accepted interval, unit and meaning of one numeric parameter.

    Parameters
    ----------
    name : str
        The parameter's name as it appears in code, files and error messages.
    unit : str
        Unit shown to users (``"mm"``, ``"s"``, ``"°C"``, ``"deg"`` or ``""``).
    minimum, maximum : float
        Inclusive bounds.
    description : str
        One line for tooltips and documentation.
    integer : bool
        Whether only whole numbers are accepted.
    """

    name: str
    unit: str
    minimum: float
    maximum: float
    description: str
    integer: bool = False

    def validate(self, value: object, *, where: str = "") -> float:
        """Return ``value`` as a float (or int) inside the range; raise naming the parameter.

        Parameters
        ----------
        value : object
            The candidate value.
        where : str
            Prefix naming the context (``"oar_clearances_mm['bowel']"``); defaults to ``name``.

        Raises
        ------
        InvalidParameterError
            When ``value`` is not a finite number, not whole where required, or out of range.
        """
        label = where or self.name
        unit = f" {self.unit}" if self.unit else ""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameterError(
                f"{label} must be a number in {self.unit or 'no unit'}, got {value!r}."
            )
        number = float(value)
        if not math.isfinite(number):
            raise InvalidParameterError(f"{label} must be finite, got {value!r}.")
        if self.integer and number != int(number):
            raise InvalidParameterError(f"{label} must be a whole number, got {value!r}.")
        if not self.minimum <= number <= self.maximum:
            raise InvalidParameterError(
                f"{label} = {number:g}{unit} is outside its range "
                f"[{_format(self.minimum)}, {_format(self.maximum)}]{unit} ({self.description})."
            )
        return int(number) if self.integer else number


def _format(number: float) -> str:
    return f"{number:g}"
