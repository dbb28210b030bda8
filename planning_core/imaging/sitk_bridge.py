"""Conversion between :class:`Volume`/:class:`LabelMap` and SimpleITK images."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry


def geometry_from_sitk(image: sitk.Image) -> Geometry:
    """The :class:`Geometry` of a 3-D SimpleITK image."""
    if image.GetDimension() != 3:
        raise InvalidParameterError(f"expected a 3-D image, got {image.GetDimension()}-D.")
    ni, nj, nk = image.GetSize()
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    return Geometry((nk, nj, ni), image.GetSpacing(), image.GetOrigin(), direction)


def array_to_sitk(voxels: NDArray[np.generic], geometry: Geometry) -> sitk.Image:
    """A SimpleITK image holding ``voxels`` (``[k, j, i]``) placed by ``geometry``."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(voxels))
    image.SetSpacing(tuple(float(v) for v in geometry.spacing_mm))
    image.SetOrigin(tuple(float(v) for v in geometry.origin_lps_mm))
    image.SetDirection(tuple(float(v) for v in geometry.direction.reshape(-1)))
    return image
