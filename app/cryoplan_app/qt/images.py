"""numpy pictures as Qt images (copied, so Qt never points into freed numpy memory)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtGui import QImage

from planning_core.errors import InvalidParameterError


def gray_to_qimage(pixels: NDArray[np.uint8]) -> QImage:
    """A ``(height, width)`` uint8 array as an 8-bit grey QImage."""
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise InvalidParameterError(
            f"expected a 2-D uint8 array, got {pixels.ndim}-D {pixels.dtype}."
        )
    contiguous = np.ascontiguousarray(pixels)
    height, width = contiguous.shape
    image = QImage(contiguous.data, width, height, width, QImage.Format.Format_Grayscale8)
    return image.copy()


def rgb_to_qimage(pixels: NDArray[np.uint8]) -> QImage:
    """A ``(height, width, 3)`` uint8 array as an RGB QImage."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InvalidParameterError(
            f"expected a (height, width, 3) uint8 array, got {pixels.shape} {pixels.dtype}."
        )
    contiguous = np.ascontiguousarray(pixels)
    height, width, _ = contiguous.shape
    image = QImage(contiguous.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()
