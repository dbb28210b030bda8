"""Plausibility of decoded CT values: the last check for damage that header and stream agree on.

A codestream whose own size (SIZ / SOF) and the header both state 1024×1024
while its data cover 512×512 decodes without an error: the part the data do
not cover is garbage, stored values anywhere in -32768..32767. Nothing in the
file contradicts itself, so only the values can tell. A CT maps to Hounsfield
units, which physically lie between -1024 (air) and a few thousand (dense
bone, contrast; metal reaches beyond only in a few voxels of a slice).
Some decoders fill the part instead with one constant below that range,
which looks like padding; but padding lies outside a circular field of view
and so fills whole rows only at the top and bottom edge, never most rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: HU a CT voxel can plausibly hold: air reads -1024 (noise reaches a little
#: lower), and only metal exceeds +4000 HU.
CT_PLAUSIBLE_HU = (-1500.0, 4000.0)
#: Share of a slice allowed outside :data:`CT_PLAUSIBLE_HU` (metal implants
#: take a few per cent at most; garbage from a damaged stream takes far more).
MAX_IMPLAUSIBLE_FRACTION = 0.05
#: Values this close above a slice's lowest one count as its padding: lossy
#: compression smears a -3024 HU padding by tens of HU (JPEG baseline: ±60 HU).
PADDING_BAND_HU = 256.0
#: Share of a slice's rows that may be padding throughout (a field of view
#: narrower than half the image would be no diagnostic CT).
MAX_PADDING_ROW_FRACTION = 0.5


def implausible_ct_fraction(values_hu: NDArray[np.generic]) -> float:
    """Share of a slice's values outside :data:`CT_PLAUSIBLE_HU`, padding left out.

    Voxels at (or, lossy compressed, within :data:`PADDING_BAND_HU` of) the
    slice's lowest value are padding outside the reconstructed field of view
    (-3024, -2000 or the PixelPaddingValue, which scanners choose below any
    tissue), not damage.
    """
    if values_hu.size == 0:
        return 0.0
    low, high = CT_PLAUSIBLE_HU
    padding_top = float(values_hu.min()) + PADDING_BAND_HU
    outside = ((values_hu < low) & (values_hu > padding_top)) | (values_hu > high)
    return float(np.count_nonzero(outside)) / values_hu.size


def padding_row_fraction(values_hu: NDArray[np.generic]) -> float:
    """Share of a slice's rows that hold one value below :data:`CT_PLAUSIBLE_HU` throughout."""
    if values_hu.ndim != 2 or values_hu.size == 0:
        return 0.0
    constant = (values_hu == values_hu[:, :1]).all(axis=1) & (values_hu[:, 0] < CT_PLAUSIBLE_HU[0])
    return float(np.count_nonzero(constant)) / values_hu.shape[0]


def ct_range_note(values_hu: NDArray[np.generic], *, file_name: str) -> str | None:
    """A warning naming ``file_name`` when a CT slice holds values no intact CT holds.

    That is when more than :data:`MAX_IMPLAUSIBLE_FRACTION` of its values
    lie outside :data:`CT_PLAUSIBLE_HU`, or more than half of its rows are
    padding throughout.
    """
    low, high = CT_PLAUSIBLE_HU
    # Every second row and column: a 5 % share is estimated from 65 000 values of a
    # 512×512 slice to well under 1 %, at a quarter of the cost of reading them all
    # (the check ran on every slice and was the largest single cost of a load).
    fraction = implausible_ct_fraction(values_hu[..., ::2, ::2])
    if fraction > MAX_IMPLAUSIBLE_FRACTION:
        what = f"{fraction:.0%} of the slice's values lie outside the possible CT range"
    elif (rows := padding_row_fraction(values_hu[..., ::4])) > MAX_PADDING_ROW_FRACTION:
        what = f"{rows:.0%} of the slice's rows hold one constant value below the CT range"
    else:
        return None
    return (
        f"{file_name}: {what} {low:.0f}..{high:.0f} HU; the pixel data may be damaged, "
        "check the file or export it again."
    )
