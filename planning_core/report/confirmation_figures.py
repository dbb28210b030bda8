"""Figures of the post-ablation confirmation report: slices with contours, the margin map.

Drawn without pyplot (no global state), like :mod:`planning_core.report.figures`.

Slices are planes of the planning grid (where the registered post-ablation CT,
the tumor, the zone and the shell all lie) through the thinnest margin, shown
in radiological convention (patient's left on the right of axial and coronal
views, anterior at the top of axial views, superior at the top otherwise).
The 3-D margin map colours each tumor surface vertex by its signed margin.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import NDArray

from planning_core.confirm.post import PostConfirmation
from planning_core.report.figures import figure_png

#: Half the field of view of the slice views around the thinnest margin (mm).
VIEW_HALF_WIDTH_MM = 40.0
CONTOURS = (
    ("tumor", "#e53e3e", "-"),
    ("ablation zone", "#00b5d8", "-"),
    ("margin shell", "#f687b3", "--"),
    ("predicted lethal zone", "#ecc94b", ":"),
)


def _cut(
    array: NDArray, axis: int, index: int, box: tuple[slice, ...]
) -> NDArray:  # (rows, columns) as displayed
    """The plane ``index`` along ``axis`` (0 k, 1 j, 2 i) inside ``box``, oriented for display."""
    picked = [box[0], box[1], box[2]]
    picked[axis] = index
    plane = np.asarray(array[tuple(picked)])
    return plane if axis == 0 else plane[::-1]  # superior at the top of coronal and sagittal


def slice_views_png(result: PostConfirmation) -> bytes:
    """Axial, coronal and sagittal views through the thinnest margin with the contours."""
    geometry = result.planning_volume.geometry
    focus = result.margin.thinnest_location_lps_mm
    if focus is None:
        focus = tuple(geometry.index_to_lps(np.argwhere(result.tumor).mean(axis=0)[::-1]))
    centre = np.clip(
        np.rint(geometry.lps_to_index(np.asarray(focus))[::-1]).astype(int),
        0,
        np.asarray(geometry.shape) - 1,
    )
    spacing = np.asarray(geometry.spacing_kji_mm)
    half = np.ceil(VIEW_HALF_WIDTH_MM / spacing).astype(int)
    box = tuple(
        slice(max(int(c - h), 0), min(int(c + h + 1), n))
        for c, h, n in zip(centre, half, geometry.shape, strict=True)
    )
    shell_outer = result.shell | result.tumor
    masks = [result.tumor, result.zone.mask, shell_outer, result.predicted_lethal]
    figure = Figure(figsize=(10.5, 3.9), dpi=150)
    axes = figure.subplots(1, 3)
    names = ("Axial", "Coronal", "Sagittal")
    for axis, (ax, name) in enumerate(zip(axes, names, strict=True)):
        image = _cut(result.post_on_planning.voxels, axis, int(centre[axis]), box)
        rows, columns = [s for a, s in enumerate(spacing) if a != axis]
        ax.imshow(
            image, cmap="gray", vmin=-160, vmax=240, aspect=rows / columns, interpolation="nearest"
        )
        for mask, (_, colour, style) in zip(masks, CONTOURS, strict=True):
            if mask is None:
                continue
            plane = _cut(mask, axis, int(centre[axis]), box).astype(float)
            if plane.any() and not plane.all():
                ax.contour(plane, levels=[0.5], colors=colour, linestyles=style, linewidths=1.2)
        point = [c - s.start for c, s in zip(centre, box, strict=True)]
        del point[axis]
        row, column = point
        if axis != 0:
            row = image.shape[0] - 1 - row
        ax.plot(column, row, marker="x", color="#fff200", markersize=9, markeredgewidth=2)
        ax.set_title(f"{name} (slice through the thinnest margin)", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [
        Line2D([], [], color=colour, linestyle=style, label=label)
        for label, colour, style in CONTOURS
    ]
    handles.append(
        Line2D([], [], color="#fff200", marker="x", linestyle="", label="thinnest margin")
    )
    figure.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    return figure_png(figure)


def margin_map_png(result: PostConfirmation) -> bytes:
    """The tumor surface coloured by its signed margin (mm), two opposite views."""
    margin = result.margin
    points = margin.surface_lps_mm
    values = margin.signed_margin_mm
    low = min(-1.0, float(values.min()))
    high = max(result.options.shell_mm * 2.0, float(values.max()))
    norm = TwoSlopeNorm(vmin=low, vcenter=0.0, vmax=high)
    figure = Figure(figsize=(9.0, 4.2), dpi=150)
    scatter = None
    for index, azimuth in enumerate((-60.0, 120.0)):
        ax = figure.add_subplot(1, 2, index + 1, projection="3d")
        kept = ~margin.exempt
        scatter = ax.scatter(
            points[kept, 0], points[kept, 1], points[kept, 2],
            c=values[kept], cmap="RdYlGn", norm=norm, s=4, depthshade=False,
        )  # fmt: skip
        if margin.exempt.any():
            ax.scatter(
                points[~kept, 0], points[~kept, 1], points[~kept, 2],
                color="#a0aec0", s=4, depthshade=False, label="exempt",
            )  # fmt: skip
        if margin.thinnest_location_lps_mm is not None:
            x, y, z = margin.thinnest_location_lps_mm
            ax.scatter([x], [y], [z], color="black", marker="x", s=60)
        ax.view_init(elev=20.0, azim=azimuth)
        ax.set_xlabel("L (mm)", fontsize=7)
        ax.set_ylabel("P (mm)", fontsize=7)
        ax.set_zlabel("S (mm)", fontsize=7)
        ax.tick_params(labelsize=6)
        # Azimuth -60 looks from the patient's front-left, 120 from the back-right.
        ax.set_title("from the front-left" if index == 0 else "from the back-right", fontsize=8)
    bar = figure.colorbar(scatter, ax=figure.axes, shrink=0.7, pad=0.08)
    bar.set_label("signed margin (mm)", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return figure_png(figure)
