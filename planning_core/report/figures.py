"""Report figures drawn headless with matplotlib's Agg canvas, returned as PNG bytes.

Figures never use pyplot (no global state, safe in worker threads). Slice views
show the CT in a stated window, the tumor (red outline), the tumor + margin zone
(red dashed), organs at risk (their label colours), the isotherms in the
application's colours (:func:`planning_core.display_colors.isotherm_color`: 0 °C
cyan, -20 °C green, -40 °C magenta; the lethal one thicker), probes as lines
with tip dots, a scale bar and the patient-direction letters at the edges.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mpl_toolkits.mplot3d.art3d import Poly3DCollection
from numpy.typing import NDArray
from scipy import ndimage
from skimage.measure import marching_cubes

from planning_core.display_colors import isotherm_color
from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.masks import bounding_box
from planning_core.planning.results import RobustnessSummary, TemperatureVolumeHistogram
from planning_core.report.content import PhaseRow
from planning_core.report.slices import DoseField, SlicePlane, sample_at_indices

#: Gold, as the application's probe highlight: apart from every isotherm colour.
PROBE_COLOUR = "#ffe026"
#: Smallest distance between two probe names in a slice view, and from a name to its tip (pt).
LABEL_GAP_PT = 8.0
LABEL_OFFSET_PT = 4.0
#: Isotherm line widths (points) in slice views; the lethal one is thicker, as in the app.
ISOTHERM_WIDTH = 1.2
LETHAL_WIDTH = 2.0
TUMOR_COLOUR = "red"
PHASE_COLOURS = {"freeze": "#2b6cb0", "passive_thaw": "#a0aec0", "active_thaw": "#dd6b20"}
PHASE_NAMES = {"freeze": "Freeze", "passive_thaw": "Passive thaw", "active_thaw": "Active thaw"}
DPI = 150
#: Dark outline that keeps white annotations readable over bone or contrast.
OUTLINE = [patheffects.withStroke(linewidth=2, foreground="black")]
#: Space around tumor + margin in the 3-D overview.
OVERVIEW_SURROUND_MM = 20.0
#: Organs at risk with voxels this close to tumor + margin are drawn in the 3-D overview.
OVERVIEW_OAR_DISTANCE_MM = 10.0


@dataclass(frozen=True)
class SceneProbe:
    """A probe as drawn: its name, skin entry and tip (LPS mm)."""

    label: str
    entry_lps_mm: tuple[float, float, float]
    tip_lps_mm: tuple[float, float, float]


@dataclass(frozen=True)
class Scene:
    """What slice views and the 3-D overview draw.

    Attributes
    ----------
    volume, label_map : Volume, LabelMap
        Image and labels on one grid.
    tumor, margin_zone : ndarray of bool
        Tumor and tumor + margin masks on the label grid.
    oars : tuple of str
        Organs at risk to colour.
    dose : DoseField or None
        Lethal-dose field; ``None`` draws no isotherms (and says so).
    isotherms_c : tuple of float
        Isotherms to contour, warmest first.
    lethal_isotherm_c : float or None
        The lethal one among them, drawn thicker.
    labelled_probes : tuple of str or None
        Probes whose names slice views print (``None``: all); a view along one
        probe names only that one, so that the names do not hide the ice at its tip.
    probes : tuple of SceneProbe
    window_level : tuple of float
        Display window width and level in image units.
    """

    volume: Volume
    label_map: LabelMap
    tumor: NDArray[np.bool_]
    margin_zone: NDArray[np.bool_]
    oars: tuple[str, ...]
    dose: DoseField | None
    isotherms_c: tuple[float, ...]
    probes: tuple[SceneProbe, ...]
    window_level: tuple[float, float]
    lethal_isotherm_c: float | None = None
    labelled_probes: tuple[str, ...] | None = None

    def isotherm_width(self, isotherm_c: float) -> float:
        """Line width of an isotherm contour: thicker for the lethal one."""
        return LETHAL_WIDTH if isotherm_c == self.lethal_isotherm_c else ISOTHERM_WIDTH


def figure_rgb(figure: Figure) -> NDArray[np.uint8]:
    """Render a figure to an RGB array ``(rows, columns, 3)`` (white background)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])


def figure_png(figure: Figure) -> bytes:
    """Render a figure to PNG bytes (fast compression: the PDF re-compresses anyway)."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


# -- slice views ---------------------------------------------------------------------------
def draw_slice(ax: Axes, scene: Scene, plane: SlicePlane) -> None:
    """Draw one reslice of ``scene`` with its overlays on ``ax``."""
    ijk = plane.indices(scene.volume.geometry)
    width, level = scene.window_level
    image = sample_at_indices(scene.volume.voxels, ijk, order=1, outside=level - width / 2.0)
    extent = plane.extent_mm
    ax.imshow(
        image,
        cmap="gray",
        vmin=level - width / 2.0,
        vmax=level + width / 2.0,
        extent=extent,
        interpolation="bilinear",
    )
    labels = sample_at_indices(scene.label_map.voxels, ijk, order=0, outside=0)
    for name in scene.oars:
        info = scene.label_map.info(name)
        mask = labels == info.value
        if not mask.any():
            continue
        colour = np.asarray(info.color_rgb) / 255.0
        overlay = np.zeros((*mask.shape, 4))
        overlay[mask] = (*colour, 0.35)
        ax.imshow(overlay, extent=extent, interpolation="nearest")
        ax.contour(
            _grid_u(plane),
            _grid_v(plane),
            mask.astype(float),
            levels=[0.5],
            colors=[colour],
            linewidths=0.8,
        )
    zone = sample_at_indices(scene.margin_zone, ijk, order=0, outside=0)
    tumor = sample_at_indices(scene.tumor, ijk, order=0, outside=0)
    u, v = _grid_u(plane), _grid_v(plane)
    if zone.any():
        ax.contour(
            u, v, zone, levels=[0.5], colors=TUMOR_COLOUR, linewidths=1.0, linestyles="dashed"
        )
    if tumor.any():
        ax.contour(u, v, tumor, levels=[0.5], colors=TUMOR_COLOUR, linewidths=1.6)
    if scene.dose is not None:
        dose = scene.dose.sample_indices(plane.indices(scene.dose.geometry))
        for isotherm in scene.isotherms_c:
            if dose.min() <= isotherm:
                ax.contour(
                    u, v, dose, levels=[isotherm], colors=[isotherm_color(isotherm)],
                    linewidths=scene.isotherm_width(isotherm),
                    # Solid: matplotlib dashes negative levels, and dashes mean tumor + margin.
                    linestyles="solid",
                )  # fmt: skip
    _draw_probes(ax, plane, scene.probes, scene.labelled_probes)
    _decorate(ax, plane, scene.window_level, scene.volume.units)


def _grid_u(plane: SlicePlane) -> NDArray[np.float64]:
    columns = plane.shape[1]
    return (np.arange(columns) + 0.5) * plane.pixel_mm - plane.half_width_mm


def _grid_v(plane: SlicePlane) -> NDArray[np.float64]:
    rows = plane.shape[0]
    return (np.arange(rows) + 0.5) * plane.pixel_mm - plane.half_height_mm


def _draw_probes(
    ax: Axes,
    plane: SlicePlane,
    probes: Sequence[SceneProbe],
    labelled: tuple[str, ...] | None,
) -> None:
    tips = []
    for probe in probes:
        (entry, tip), distance = plane.project([probe.entry_lps_mm, probe.tip_lps_mm])
        in_plane = bool(np.all(np.abs(distance) < 2.0))
        ax.plot(
            [entry[0], tip[0]],
            [entry[1], tip[1]],
            color=PROBE_COLOUR,
            linewidth=1.6 if in_plane else 1.0,
            linestyle="-" if in_plane else (0, (4, 2)),
        )
        ax.plot(tip[0], tip[1], "o", color=PROBE_COLOUR, markersize=4)
        inside = abs(tip[0]) < plane.half_width_mm and abs(tip[1]) < plane.half_height_mm
        if inside and (labelled is None or probe.label in labelled):
            tips.append((probe.label, (float(tip[0]), float(tip[1]))))
    ax.set_xlim(-plane.half_width_mm, plane.half_width_mm)
    ax.set_ylim(plane.half_height_mm, -plane.half_height_mm)
    _label_probes(ax, plane, tips)


def _label_probes(
    ax: Axes, plane: SlicePlane, tips: Sequence[tuple[str, tuple[float, float]]]
) -> None:
    """Probe names beside their tips; where tips crowd, the names are stacked apart, each
    with a thin leader line to its tip, so that no two names overlap."""
    height_pt = ax.get_position().height * ax.figure.get_figheight() * 72.0
    mm_per_pt = 2.0 * plane.half_height_mm / height_pt
    gap_mm, offset_mm = LABEL_GAP_PT * mm_per_pt, LABEL_OFFSET_PT * mm_per_pt
    # Rows of names, top to bottom (v grows downward); each keeps its tip's height when free.
    rows: list[float] = []
    for label, (u, v) in sorted(tips, key=lambda item: item[1][1]):
        row = v if not rows else max(v, rows[-1] + gap_mm)
        rows.append(row)
        moved = abs(row - v) > 0.5 * gap_mm
        ax.annotate(
            label,
            (u, v),
            xytext=(u + offset_mm * (3.0 if moved else 1.0), row - 0.5 * gap_mm),
            textcoords="data",
            color=PROBE_COLOUR,
            fontsize=7,
            fontweight="bold",
            va="center",
            path_effects=OUTLINE,
            arrowprops=(
                {"arrowstyle": "-", "color": PROBE_COLOUR, "linewidth": 0.5} if moved else None
            ),
        )


def _decorate(ax: Axes, plane: SlicePlane, window_level: tuple[float, float], units: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(plane.title, fontsize=9)
    left, right, top, bottom = plane.edge_letters()
    style = {
        "color": "white",
        "fontsize": 10,
        "fontweight": "bold",
        "transform": ax.transAxes,
        "path_effects": OUTLINE,
    }
    ax.text(0.02, 0.5, left, ha="left", va="center", **style)
    ax.text(0.98, 0.5, right, ha="right", va="center", **style)
    ax.text(0.5, 0.98, top, ha="center", va="top", **style)
    ax.text(0.5, 0.02, bottom, ha="center", va="bottom", **style)
    bar_mm = _scale_bar_mm(2.0 * plane.half_width_mm)
    x1 = plane.half_width_mm * 0.92
    y = plane.half_height_mm * 0.88
    ax.plot(
        [x1 - bar_mm, x1],
        [y, y],
        color="white",
        linewidth=2.5,
        solid_capstyle="butt",
        path_effects=[patheffects.withStroke(linewidth=4, foreground="black")],
    )
    ax.text(
        x1 - bar_mm / 2.0,
        y - plane.half_height_mm * 0.03,
        f"{bar_mm:g} mm",
        color="white",
        fontsize=7,
        ha="center",
        va="bottom",
        path_effects=OUTLINE,
    )
    width, level = window_level
    ax.text(
        0.02,
        0.02,
        f"W {width:g} / L {level:g} {units}",
        transform=ax.transAxes,
        color="white",
        fontsize=6.5,
        ha="left",
        va="bottom",
        path_effects=OUTLINE,
    )


def _scale_bar_mm(field_mm: float) -> float:
    """A round bar length of about a fifth of the field."""
    for candidate in (100.0, 50.0, 20.0, 10.0, 5.0, 2.0, 1.0):
        if candidate <= field_mm / 4.0:
            return candidate
    return 1.0


def legend_handles(scene: Scene) -> list[Line2D]:
    """Legend entries for the slice views."""
    handles = [
        Line2D([], [], color=TUMOR_COLOUR, linewidth=1.6, label="tumor"),
        Line2D(
            [], [], color=TUMOR_COLOUR, linewidth=1.0, linestyle="dashed", label="tumor + margin"
        ),
        Line2D(
            [],
            [],
            color=PROBE_COLOUR,
            linewidth=1.6,
            marker="o",
            markersize=4,
            label="probe (dashed: out of plane, projected)",
        ),
    ]
    if scene.dose is not None:
        handles += [
            Line2D(
                [],
                [],
                color=isotherm_color(t),
                linewidth=scene.isotherm_width(t),
                label=f"{t:g} °C isotherm" + (" (lethal)" if t == scene.lethal_isotherm_c else ""),
            )
            for t in scene.isotherms_c
        ]
    for name in scene.oars:
        colour = np.asarray(scene.label_map.info(name).color_rgb) / 255.0
        handles.append(
            Line2D([], [], color=colour, linewidth=4, alpha=0.6, label=display_name(name))
        )
    return handles


def display_name(label: str) -> str:
    """A label name as printed: ``renal_sinus`` → ``renal sinus``."""
    return label.replace("_", " ")


def slice_views_png(
    scene: Scene,
    planes: Sequence[SlicePlane],
    *,
    columns: int,
    legend: bool = True,
    panel_in: float = 3.4,
) -> bytes:
    """Several slice views side by side, optionally with the legend underneath, as PNG."""
    return figure_png(
        slice_views_figure(scene, planes, columns=columns, legend=legend, panel_in=panel_in)
    )


def slice_views_figure(
    scene: Scene,
    planes: Sequence[SlicePlane],
    *,
    columns: int,
    legend: bool = True,
    panel_in: float = 3.4,
) -> Figure:
    """The figure of :func:`slice_views_png`."""
    rows = int(np.ceil(len(planes) / columns))
    legend_in = 0.17 * int(np.ceil(len(legend_handles(scene)) / 3)) + 0.25 if legend else 0.0
    title_in = 0.25
    height_in = (panel_in + title_in) * rows + legend_in
    figure = Figure(figsize=(panel_in * columns, height_in), dpi=DPI)
    grid = figure.add_gridspec(
        rows,
        columns,
        left=0.01,
        right=0.99,
        top=1.0 - title_in / height_in,
        bottom=legend_in / height_in,
        wspace=0.03,
        hspace=title_in / panel_in,
    )
    for index, plane in enumerate(planes):
        ax = figure.add_subplot(grid[index // columns, index % columns])
        draw_slice(ax, scene, plane)
    if legend:
        # A dark legend box keeps the light isotherm and probe colours visible.
        figure.legend(
            handles=legend_handles(scene),
            loc="lower center",
            ncol=3,
            fontsize=7,
            facecolor="0.2",
            edgecolor="0.2",
            labelcolor="white",
            framealpha=1.0,
        )
    return figure


# -- 3-D overview --------------------------------------------------------------------------
def overview_3d_png(
    scene: Scene, *, lethal_isotherm_c: float, max_oars: int = 3, size_in: float = 6.5
) -> bytes:
    """Surfaces of the tumor, the lethal and 0 °C isotherms and the closest organs at risk.

    The box shown is tumor + margin widened by :data:`OVERVIEW_SURROUND_MM`; the
    isotherm surfaces take the application's isotherm colours.
    """
    figure = Figure(figsize=(size_in, size_in * 0.75), dpi=DPI)
    ax = figure.add_axes((0.0, 0.0, 0.75, 1.0), projection="3d")
    geometry = scene.label_map.geometry
    spacing = np.asarray(geometry.spacing_kji_mm)
    box = bounding_box(scene.margin_zone, np.ceil(OVERVIEW_SURROUND_MM / spacing))
    if box is None:
        raise InvalidParameterError("the tumor + margin mask is empty; nothing to show in 3-D.")
    handles = [Line2D([], [], color=TUMOR_COLOUR, linewidth=5, label="tumor")]
    _add_surface(ax, scene.tumor[box], geometry, 0.5, TUMOR_COLOUR, 0.9, box)
    if scene.dose is not None:
        dose = scene.dose.sample(geometry.index_to_lps(_box_ijk(box)))
        for isotherm, colour, alpha in (
            (lethal_isotherm_c, isotherm_color(lethal_isotherm_c), 0.35),
            (0.0, isotherm_color(0.0), 0.2),
        ):
            if dose.min() < isotherm:
                # The cold side must be "inside" for marching cubes: contour -T at -t.
                _add_surface(ax, -dose, geometry, -isotherm, colour, alpha, box)
                handles.append(
                    Line2D([], [], color=colour, linewidth=5, alpha=0.6, label=f"{isotherm:g} °C")
                )
    labels = scene.label_map.voxels[box]
    near = ndimage.distance_transform_edt(~scene.margin_zone[box], sampling=spacing)
    near = near <= OVERVIEW_OAR_DISTANCE_MM
    counts = {
        name: int(np.count_nonzero(near & (labels == scene.label_map.info(name).value)))
        for name in scene.oars
    }
    closest = [n for n in sorted(counts, key=counts.get, reverse=True) if counts[n]][:max_oars]
    for name in closest:
        colour = np.asarray(scene.label_map.info(name).color_rgb) / 255.0
        mask = labels == scene.label_map.info(name).value
        _add_surface(ax, mask, geometry, 0.5, colour, 0.3, box)
        handles.append(
            Line2D([], [], color=colour, linewidth=5, alpha=0.6, label=display_name(name))
        )
    for probe in scene.probes:
        line = np.array([probe.entry_lps_mm, probe.tip_lps_mm])
        ax.plot(line[:, 0], line[:, 1], line[:, 2], color="green", linewidth=2)
        ax.scatter(*line[1], color="green", s=10)
        ax.text(*line[0], probe.label, fontsize=7, color="darkgreen")
    handles.append(Line2D([], [], color="green", linewidth=2, label="probes"))
    corners = geometry.index_to_lps(_box_corners_ijk(box))
    low, high = corners.min(axis=0), corners.max(axis=0)
    for probe in scene.probes:
        low = np.minimum(low, probe.entry_lps_mm)
        high = np.maximum(high, probe.entry_lps_mm)
    centre, half = 0.5 * (low + high), 0.5 * float(np.max(high - low))
    ax.set_xlim(centre[0] + half, centre[0] - half)  # patient's right on the viewer's left
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("R ← x (mm) → L", fontsize=7)
    ax.set_ylabel("A ← y (mm) → P", fontsize=7)
    ax.set_zlabel("I ← z (mm) → S", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.view_init(elev=20, azim=-60)
    figure.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    return figure_png(figure)


def _box_ijk(box: tuple[slice, ...]) -> NDArray[np.float64]:
    k, j, i = np.meshgrid(*(np.arange(s.start, s.stop) for s in box), indexing="ij")
    return np.stack([i, j, k], axis=-1).astype(np.float64)


def _box_corners_ijk(box: tuple[slice, ...]) -> NDArray[np.float64]:
    k, j, i = box
    return np.array(
        [
            [a, b, c]
            for a in (i.start, i.stop - 1)
            for b in (j.start, j.stop - 1)
            for c in (k.start, k.stop - 1)
        ],
        dtype=np.float64,
    )


def _add_surface(
    ax: Axes,
    crop: NDArray[np.generic],
    geometry: Geometry,
    level: float,
    colour: object,
    alpha: float,
    box: tuple[slice, ...],
) -> None:
    """Marching-cubes surface of ``crop`` (the array inside ``box``) at ``level``, decimated."""
    crop = np.asarray(crop, dtype=np.float32)
    if crop.min() >= level or crop.max() <= level:
        return
    crop = np.pad(crop, 1, constant_values=float(crop.min()))
    step = max(1, int(np.ceil(max(crop.shape) / 60)))
    vertices, faces, *_ = marching_cubes(crop, level=level, step_size=step)
    start = np.array([s.start for s in box], dtype=np.float64) - 1.0
    lps = geometry.index_to_lps((vertices + start)[:, ::-1])
    ax.add_collection3d(Poly3DCollection(lps[faces], facecolor=colour, alpha=alpha, linewidth=0))


# -- charts --------------------------------------------------------------------------------
def tvh_png(
    histograms: Sequence[TemperatureVolumeHistogram],
    *,
    isotherms_c: Sequence[float],
    colours: dict[str, tuple[float, float, float]],
    size_in: tuple[float, float] = (7.0, 3.4),
) -> bytes:
    """Cumulative temperature-volume histograms: % of each structure at or below T, as PNG."""
    return figure_png(
        tvh_figure(histograms, isotherms_c=isotherms_c, colours=colours, size_in=size_in)
    )


def tvh_figure(
    histograms: Sequence[TemperatureVolumeHistogram],
    *,
    isotherms_c: Sequence[float],
    colours: dict[str, tuple[float, float, float]],
    size_in: tuple[float, float] = (7.0, 3.4),
) -> Figure:
    """The figure of :func:`tvh_png`; colder to the right, as in the app's Metrics panel."""
    figure = Figure(figsize=size_in, dpi=DPI)
    ax = figure.add_axes((0.08, 0.14, 0.7, 0.78))
    coldest_c = 0.0
    for histogram in histograms:
        if histogram.volume_ml <= 0:
            continue
        temperatures = np.asarray(histogram.temperatures_c)
        fraction = 100.0 * np.asarray(histogram.fraction_at_or_below)
        if fraction.max() > 0:
            coldest_c = min(coldest_c, float(temperatures[np.argmax(fraction > 0)]))
        ax.plot(
            temperatures,
            fraction,
            label=display_name(histogram.structure),
            color=colours.get(histogram.structure),
            linewidth=2.0 if histogram.structure in colours else 1.0,
        )
    for isotherm in isotherms_c:
        ax.axvline(isotherm, color="0.5", linewidth=0.8, linestyle=":")
        ax.text(isotherm, 101, f"{isotherm:g} °C", fontsize=6.5, ha="center", va="bottom")
    ax.set_xlim(10.0 * np.floor(min(coldest_c, min(isotherms_c, default=0.0) - 10.0) / 10.0), 37)
    ax.invert_xaxis()  # colder to the right: the curves rise as the ice deepens
    ax.set_ylim(0, 100)
    ax.set_xlabel("Minimum temperature reached T (°C)", fontsize=8)
    ax.set_ylabel("Volume at or below T (%)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    figure.legend(fontsize=6.5, loc="center right", frameon=False)
    return figure


def protocol_png(phases: Sequence[PhaseRow], *, size_in: tuple[float, float] = (7.0, 1.3)) -> bytes:
    """The freeze-thaw timeline as coloured bars with minute ticks."""
    figure = Figure(figsize=size_in, dpi=DPI)
    ax = figure.add_subplot()
    for phase in phases:
        minutes = phase.end_min - phase.start_min
        ax.barh(
            0,
            phase.end_min - phase.start_min,
            left=phase.start_min,
            height=0.6,
            color=PHASE_COLOURS.get(phase.kind, "0.5"),
            edgecolor="black",
            linewidth=0.5,
        )
        ax.text(
            0.5 * (phase.start_min + phase.end_min),
            0,
            f"{PHASE_NAMES.get(phase.kind, phase.kind)}\n{minutes:g} min",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if phase.kind == "freeze" else "black",
        )
    total = phases[-1].end_min if phases else 1.0
    ax.set_xlim(0, total)
    ax.set_yticks([])
    ax.set_xlabel("Time (min)", fontsize=8)
    ax.tick_params(labelsize=7)
    figure.tight_layout()
    return figure_png(figure)


def robustness_png(summary: RobustnessSummary, *, required_margin_mm: float) -> bytes:
    """Coverage and margin under placement error: mean and 5th percentile against the goals."""
    figure = Figure(figsize=(7.0, 1.9), dpi=DPI)
    coverage_ax, margin_ax = figure.subplots(1, 2)
    coverage_ax.barh(
        ["5th percentile", "mean"],
        [summary.coverage_p05_percent, summary.coverage_mean_percent],
        color="#4a5568",
    )
    coverage_ax.axvline(
        summary.coverage_goal_percent,
        color="red",
        linestyle="--",
        label=f"goal {summary.coverage_goal_percent:g} %",
    )
    coverage_ax.set_xlim(0, 100)
    coverage_ax.set_xlabel("Tumor + margin coverage (%)", fontsize=8)
    margins = [summary.margin_p05_mm, summary.margin_mean_mm]
    if all(m is not None for m in margins):
        margin_ax.barh(["5th percentile", "mean"], margins, color="#4a5568")
    else:
        margin_ax.text(
            0.5,
            0.5,
            "no lethal zone in some samples",
            ha="center",
            va="center",
            transform=margin_ax.transAxes,
            fontsize=8,
        )
    margin_ax.axvline(
        required_margin_mm, color="red", linestyle="--", label=f"required {required_margin_mm:g} mm"
    )
    margin_ax.axvline(0.0, color="black", linewidth=0.6)
    margin_ax.set_xlabel("Minimal ablative margin (mm)", fontsize=8)
    for ax in (coverage_ax, margin_ax):
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    figure.tight_layout()
    return figure_png(figure)
