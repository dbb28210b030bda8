"""Heterogeneous lesions (issue 16): diameter line, strokes and honest one click.

Lesions: the three heterogeneous sample cases (a large liver metastasis with
necrosis, rim and calcifications against a portal branch; a cystic-solid
exophytic renal mass; a part-solid lung nodule) and two lesions inserted into
the real TCIA CT (:mod:`lesion_insertion`; skipped without the shared DICOM).

Goals (issue 16): seed + diameter line Dice >= 0.85 on every heterogeneous
lesion; at most three strokes reach Dice >= 0.90; one click on a heterogeneous
lesion reaches that same 0.85 or says it is uncertain and asks for a line or
strokes (never a silent fraction); on
compact lesions one click keeps Dice >= 0.90 (``test_tumor_samples``) and is not
flagged uncertain there.

Strokes are simulated as a user paints them (brush radius 2 mm), each one
looking at the result of the previous ones:

1. lesion: along the diameter line;
2. not lesion: over the largest wrongly included part, else around the
   lesion 4 mm outside its edge on the line's slice (the nearest other tissue);
3. the largest remaining error (missed lesion or wrongly included tissue), on
   its largest axial section; next to it where it is too thin for the brush.

The brush never crosses the lesion's edge, as a careful user's does. The
figures are computed once per lesion and method (module-scoped caches) to keep
the run short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import SegmentationError
from planning_core.imaging.volume import Volume
from planning_core.segmentation.lesion_line import segment_from_diameter
from planning_core.segmentation.metrics import dice
from planning_core.segmentation.strokes import Strokes, StrokeSegmenter
from planning_core.segmentation.tumor import TumorSegmentation, segment_tumor

DIAMETER_DICE_GOAL = 0.85
STROKES_DICE_GOAL = 0.90
ONE_CLICK_DICE_GOAL = 0.85
BRUSH_RADIUS_MM = 2.0
#: Spacing of the painted points along a stroke (a brush dab every 1.5 mm).
STROKE_STEP_MM = 1.5
#: The "not lesion" loop around the lesion lies this far outside its edge.
BACKGROUND_LOOP_MM = 4.0

SAMPLE_LESIONS = ("liver-metastasis", "kidney-cystic", "lung-part-solid")
INSERTED_LESIONS = ("inserted-liver", "inserted-kidney")
COMPACT_SAMPLES = ("kidney", "liver", "lung")


@dataclass
class Lesion:
    name: str
    volume: Volume
    truth: NDArray[np.bool_]
    line_start_lps_mm: NDArray[np.float64]
    line_end_lps_mm: NDArray[np.float64]
    seed_lps_mm: NDArray[np.float64]


_LESIONS: dict[str, Lesion] = {}
_RESULTS: dict[tuple[str, str], object] = {}


@pytest.fixture(scope="module")
def lesion(sample_case, request):
    """``lesion(name)`` -> :class:`Lesion` for a sample case or an inserted lesion."""

    def load(name: str) -> Lesion:
        if name not in _LESIONS:
            if name.startswith("inserted-"):
                _LESIONS[name] = _inserted(request, name.removeprefix("inserted-"))
            else:
                _LESIONS[name] = _sample(sample_case(name))
        return _LESIONS[name]

    return load


def _sample(case) -> Lesion:
    from cryoplan_samples.measure import diameter_line

    tumor = case.manifest["tumor"]
    line = tumor.get("diameter_line") or diameter_line(case.labels)
    return Lesion(
        case.name,
        case.volume,
        case.truth,
        np.asarray(line["start_lps_mm"], dtype=np.float64),
        np.asarray(line["end_lps_mm"], dtype=np.float64),
        np.asarray(tumor["seed_lps_mm"], dtype=np.float64),
    )


_TCIA: dict[str, Volume] = {}


def _inserted(request, organ: str) -> Lesion:
    from lesion_insertion import insert_lesion, tcia_ct

    shared = request.getfixturevalue("shared_dicom")
    if "ct" not in _TCIA:
        _TCIA["ct"] = tcia_ct(shared)
    inserted = insert_lesion(_TCIA["ct"], organ)
    return Lesion(
        f"inserted-{organ}",
        inserted.volume,
        inserted.truth,
        inserted.diameter_start_lps_mm,
        inserted.diameter_end_lps_mm,
        inserted.seed_lps_mm,
    )


# -- the three methods, computed once per lesion ----------------------------------------------
def diameter_result(case: Lesion) -> TumorSegmentation:
    key = (case.name, "diameter")
    if key not in _RESULTS:
        _RESULTS[key] = segment_from_diameter(
            case.volume, case.line_start_lps_mm, case.line_end_lps_mm, seed_lps_mm=case.seed_lps_mm
        )
    return _RESULTS[key]  # type: ignore[return-value]


def one_click_result(case: Lesion) -> TumorSegmentation | SegmentationError:
    key = (case.name, "click")
    if key not in _RESULTS:
        try:
            _RESULTS[key] = segment_tumor(case.volume, case.seed_lps_mm)
        except SegmentationError as error:
            _RESULTS[key] = error
    return _RESULTS[key]  # type: ignore[return-value]


def stroke_dice(case: Lesion) -> list[float]:
    """Dice after each of the (up to three) simulated strokes."""
    key = (case.name, "strokes")
    if key not in _RESULTS:
        _RESULTS[key] = simulate_strokes(case)[0]
    return _RESULTS[key]  # type: ignore[return-value]


def simulate_strokes(case: Lesion) -> tuple[list[float], list[TumorSegmentation], Strokes]:
    """Paint up to three strokes as a user would; Dice and result after each."""
    geometry = case.volume.geometry
    spacing = geometry.spacing_kji_mm
    centre = (case.line_start_lps_mm + case.line_end_lps_mm) / 2.0
    length_mm = float(np.linalg.norm(case.line_end_lps_mm - case.line_start_lps_mm))
    segmenter = StrokeSegmenter(
        case.volume, centre_lps_mm=centre, half_size_mm=max(60.0, 0.75 * length_mm + 15.0)
    )
    # Distances (mm) from the lesion's edge, inside and outside: strokes keep a brush
    # radius clear of the other class.
    depth_inside, depth_outside = _edge_distances_mm(case.truth, spacing)
    lesion_points = _line_stroke(case, depth_inside, geometry)
    background_points = np.zeros((0, 3))
    dices: list[float] = []
    results: list[TumorSegmentation] = []
    strokes = Strokes(lesion_points, background_points, BRUSH_RADIUS_MM)
    for stroke in range(3):
        if stroke == 1:
            background_points = _background_stroke(case, results[-1].mask, depth_outside, geometry)
        elif stroke == 2:
            extra, is_lesion = _largest_error_stroke(
                case, results[-1].mask, depth_inside, depth_outside, geometry
            )
            if is_lesion:
                lesion_points = np.vstack([lesion_points, extra])
            else:
                background_points = np.vstack([background_points, extra])
        strokes = Strokes(lesion_points, background_points, BRUSH_RADIUS_MM)
        result = segmenter.update(strokes)
        results.append(result)
        dices.append(dice(result.mask, case.truth))
        if dices[-1] >= STROKES_DICE_GOAL:
            break
    return dices, results, strokes


def _near_box(mask, spacing, margin_mm: float) -> tuple[slice, slice, slice]:
    """The mask's bounding box grown by ``margin_mm`` (clipped to the grid)."""
    kji = np.argwhere(mask)
    margin = np.ceil(margin_mm / np.asarray(spacing)).astype(int)
    low = np.maximum(kji.min(axis=0) - margin, 0)
    high = np.minimum(kji.max(axis=0) + margin + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def _edge_distances_mm(truth, spacing) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Distance (mm) to the lesion's edge inside it and outside it (within 40 mm of it;
    farther voxels count as infinitely far: no stroke goes there)."""
    box = _near_box(truth, spacing, 40.0)
    inside = np.zeros(truth.shape, dtype=np.float32)
    outside = np.full(truth.shape, np.inf, dtype=np.float32)
    inside[box] = ndimage.distance_transform_edt(truth[box], sampling=spacing)
    outside[box] = ndimage.distance_transform_edt(~truth[box], sampling=spacing)
    return inside, outside


def _line_stroke(case: Lesion, depth_inside, geometry) -> NDArray[np.float64]:
    """Stroke 1: dabs along the diameter line, where the brush stays inside the lesion."""
    count = max(int(np.linalg.norm(case.line_end_lps_mm - case.line_start_lps_mm) / 1.5), 2)
    t = np.linspace(0.0, 1.0, count)[:, np.newaxis]
    points = case.line_start_lps_mm + t * (case.line_end_lps_mm - case.line_start_lps_mm)
    return points[_depth_at(depth_inside, points, geometry) > BRUSH_RADIUS_MM]


def _background_stroke(case: Lesion, mask, depth_outside, geometry) -> NDArray[np.float64]:
    """Stroke 2: over the largest wrongly included part, else a loop around the lesion."""
    wrong = _largest_component(mask & ~case.truth)
    if wrong.sum() * geometry.voxel_volume_mm3 >= 100.0:  # a visible leak: 0.1 mL or more
        stroke = _stroke_over(wrong, depth_outside, geometry)
        if len(stroke):
            return stroke
    k = int(np.rint(geometry.lps_to_index(case.line_start_lps_mm)[2]))
    loop = np.zeros_like(case.truth)
    spacing_xy = geometry.spacing_mm[0]
    loop[k] = np.abs(depth_outside[k] - BACKGROUND_LOOP_MM) <= 0.5 * spacing_xy
    return _thinned(loop, geometry)


def _largest_error_stroke(case: Lesion, mask, depth_inside, depth_outside, geometry):
    """Stroke 3: the largest remaining error, missed lesion or wrongly included tissue."""
    missed = _largest_component(case.truth & ~mask)
    extra = _largest_component(mask & ~case.truth)
    if missed.sum() >= extra.sum():
        return _stroke_over(missed, depth_inside, geometry), True
    return _stroke_over(extra, depth_outside, geometry), False


def _stroke_over(error, depth, geometry) -> NDArray[np.float64]:
    """Dabs over an error's largest axial section, where the brush stays in its class.

    ``depth`` is the distance (mm) from the lesion's edge on the error's side.
    Where the error is a thin layer along the edge (a missed rim), the brush
    cannot sit on it; the user paints right next to it instead: dabs a brush
    radius from the edge, within a brush radius of the error.
    """
    if not error.any():
        return np.zeros((0, 3))
    k = int(np.argmax(error.sum(axis=(1, 2))))
    section = error[k]
    allowed = depth[k] > BRUSH_RADIUS_MM
    on_error = section & allowed
    if on_error.sum() < 3:
        spacing_xy = np.asarray(geometry.spacing_mm[1::-1])
        near = ndimage.distance_transform_edt(~section, sampling=spacing_xy) <= BRUSH_RADIUS_MM
        on_error = near & allowed & (depth[k] <= BRUSH_RADIUS_MM + geometry.spacing_mm[0])
    else:
        # Over a broad error the user paints its middle, not its whole area.
        inner = ndimage.distance_transform_edt(on_error)
        on_error = inner >= 0.6 * inner.max()
    dabs = np.zeros_like(error)
    dabs[k] = on_error
    return _thinned(dabs, geometry)


def _thinned(points_mask, geometry) -> NDArray[np.float64]:
    """The mask's voxel centres (LPS), about one every ``STROKE_STEP_MM``."""
    kji = np.argwhere(points_mask)
    if len(kji) == 0:
        return np.zeros((0, 3))
    step = max(int(np.rint(STROKE_STEP_MM / min(geometry.spacing_mm[:2]))), 1)
    return geometry.index_to_lps(kji[::step, ::-1].astype(np.float64))


def _largest_component(mask) -> NDArray[np.bool_]:
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1)


def _depth_at(depth, points, geometry) -> NDArray[np.float64]:
    ijk = np.rint(geometry.lps_to_index(points)).astype(int)
    return depth[ijk[:, 2], ijk[:, 1], ijk[:, 0]]


ALL_LESIONS = [
    *SAMPLE_LESIONS,
    *(pytest.param(name, marks=pytest.mark.shared_dicom) for name in INSERTED_LESIONS),
]


# -- the tests --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_LESIONS)
def test_diameter_line_reaches_the_goal(lesion, name):
    case = lesion(name)
    result = diameter_result(case)
    score = dice(result.mask, case.truth)
    assert score >= DIAMETER_DICE_GOAL, (score, result.warnings)


@pytest.mark.parametrize("name", ALL_LESIONS)
def test_three_strokes_reach_the_goal(lesion, name):
    dices = stroke_dice(lesion(name))
    assert len(dices) <= 3 and dices[-1] >= STROKES_DICE_GOAL, dices


@pytest.mark.parametrize("name", ALL_LESIONS)
def test_one_click_on_a_heterogeneous_lesion_is_right_or_says_it_is_uncertain(lesion, name):
    """A refusal counts as saying so only when it asks for a line or strokes: the seeds
    lie on the lesion's soft tissue (or ground glass), never on calcium or fat."""
    case = lesion(name)
    result = one_click_result(case)
    if isinstance(result, SegmentationError):
        text = str(result).lower()
    else:
        score = dice(result.mask, case.truth)
        if score >= ONE_CLICK_DICE_GOAL:
            return
        assert result.uncertain, f"silent one-click result: Dice {score:.2f}, {result.warnings}"
        text = " ".join(result.warnings).lower()
    assert "diameter" in text or "stroke" in text, text


@pytest.mark.parametrize("name", COMPACT_SAMPLES)
def test_one_click_on_a_compact_lesion_is_not_flagged_uncertain(lesion, name):
    """Honesty must not cost the easy cases: a good compact result is not flagged."""
    case = lesion(name)
    result = one_click_result(case)
    assert not isinstance(result, SegmentationError)
    assert not result.uncertain, result.warnings


@pytest.mark.parametrize("name", COMPACT_SAMPLES)
def test_diameter_line_on_a_compact_lesion_reaches_the_goal(lesion, name):
    case = lesion(name)
    result = diameter_result(case)
    score = dice(result.mask, case.truth)
    assert score >= DIAMETER_DICE_GOAL, (score, result.warnings)


@pytest.mark.shared_dicom
@pytest.mark.parametrize("name", INSERTED_LESIONS)
def test_inserted_lesion_keeps_the_real_background_and_noise(lesion, name):
    """Only the lesion is synthetic: the CT is unchanged away from it, and the lesion
    carries the scan's own noise (same amplitude as the host around it)."""
    from lesion_insertion import BACKGROUND_SIGMA_MM

    case = lesion(name)
    spacing = case.volume.geometry.spacing_kji_mm
    box = _near_box(case.truth, spacing, 20.0)
    changed = case.volume.voxels != _TCIA["ct"].voxels
    truth = case.truth[box]
    near = ndimage.distance_transform_edt(~truth, sampling=spacing) <= 6.0
    assert changed[box].any() and changed[box].sum() == changed.sum()
    assert not (changed[box] & ~near).any()
    hu = case.volume.voxels[box].astype(np.float32)
    residual = hu - ndimage.gaussian_filter(hu, BACKGROUND_SIGMA_MM / np.asarray(spacing))
    inside = ndimage.binary_erosion(truth, iterations=2) & (hu < 250.0)
    host = (
        ndimage.binary_dilation(truth, iterations=6)
        & ~ndimage.binary_dilation(truth, iterations=3)
        & (np.abs(hu - np.median(hu[inside])) < 400.0)  # no gas or bone
    )
    lesion_noise = float(np.median(np.abs(residual[inside])))
    host_noise = float(np.median(np.abs(residual[host])))
    assert 0.6 * host_noise <= lesion_noise <= 1.6 * host_noise, (lesion_noise, host_noise)
    assert 5.0 <= case.truth.sum() * case.volume.geometry.voxel_volume_mm3 / 1000.0 <= 80.0
