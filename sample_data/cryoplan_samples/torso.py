"""A synthetic adult torso (lower chest to lower abdomen) in patient LPS millimetres.

The model is fixed anatomy: every CT sample case paints the part of it that its
field of view covers, then adds its own tumor. Coordinates: +x patient left,
+y posterior, +z superior; the body axis is x = y = 0, the renal hila lie near
z = 0, the right diaphragm dome near z = +157 mm. Vertebral bodies are 26 mm
tall with 8 mm discs (T12 centred at z = +51 mm, L1 at +17 mm, ...).

Structures are painted in anatomical layers (body wall, muscles, skeleton,
thorax, solid organs, kidneys, vessels, bowel), each restricted to the tissue
classes it may displace, so that organs never cut through bone or each other in
implausible ways.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from cryoplan_samples.canvas import (
    Box,
    Canvas,
    FloatArray,
    ellipsoid_level,
    orthonormal_frame,
    smooth_curve,
    tube_clearance,
)
from cryoplan_samples.tissues import CT_TISSUES
from planning_core.progress import CancelToken, ProgressCallback, no_progress

T = CT_TISSUES.id
#: Fixed seed of the random parts of the anatomy (bowel loops, lung vessel trees);
#: a case's own seed changes its tumor and noise, not the patient.
ANATOMY_SEED = 20240115

BODY_HALF_WIDTH_MM = 160.0
BODY_ANTERIOR_MM = 118.0
BODY_POSTERIOR_MM = 108.0
_BODY_EXPONENT = 2.3
SKIN_MM = 2.5
_SPINE_CENTER_Y_MM = 46.0
_CANAL_CENTER_Y_MM = 72.0
#: z of the centre of vertebral body T12; one vertebra + disc is 34 mm.
_T12_Z_MM = 51.0
_VERTEBRA_PITCH_MM = 34.0
_VERTEBRA_HALF_HEIGHT_MM = 13.0


# -- body wall ------------------------------------------------------------------------------
def body_depth_mm(x: FloatArray, y: FloatArray) -> FloatArray:
    """Depth below the skin along the ray from the body axis (negative outside the body)."""
    semi_y = np.where(y < 0, np.float32(BODY_ANTERIOR_MM), np.float32(BODY_POSTERIOR_MM))
    rho = (
        (np.abs(x) / np.float32(BODY_HALF_WIDTH_MM)) ** _BODY_EXPONENT
        + (np.abs(y) / semi_y) ** _BODY_EXPONENT
    ) ** (1.0 / _BODY_EXPONENT)
    radius = np.hypot(x, y)
    return radius * (1.0 / np.maximum(rho, 1e-6) - 1.0)


def angle_from_posterior(x: FloatArray, y: FloatArray) -> FloatArray:
    """Angle (rad) around the body axis: 0 at the posterior midline, pi anteriorly."""
    return np.arctan2(np.abs(x), y)


def fat_thickness_mm(angle: FloatArray) -> FloatArray:
    return 14.0 + 10.0 * np.sin(angle) ** 2 + np.cos(angle)


def wall_muscle_mm(angle: FloatArray) -> FloatArray:
    return 10.0 + 3.0 * np.cos(2.0 * angle)


def cavity_depth_mm(angle: FloatArray) -> FloatArray:
    """Depth at which the body wall ends and the abdominal/thoracic cavity begins."""
    return SKIN_MM + fat_thickness_mm(angle) + wall_muscle_mm(angle)


def rib_depth_mm(angle: FloatArray) -> FloatArray:
    # Ribs sit in the inner wall, and dive under the paraspinal muscles to the spine.
    return cavity_depth_mm(angle) - 4.0 + 22.0 * np.clip((0.75 - angle) / 0.45, 0.0, 1.0)


def paint_body_wall(canvas: Canvas) -> None:
    """Skin, subcutaneous fat, wall muscles, the cavity (filled with fat) and the CT table."""
    box = canvas.full_box()
    x, y = box.x[0], box.y[0]
    depth = body_depth_mm(x, y)
    angle = angle_from_posterior(x, y)
    layer = np.full(depth.shape, T("air"), dtype=np.uint8)
    # The table lies 2.5 mm below the skin on the side the patient rests on.
    side = canvas.table_side_y
    y_full = np.broadcast_to(y, depth.shape) * np.float32(side)
    skin_to_table = BODY_POSTERIOR_MM if side > 0 else BODY_ANTERIOR_MM
    top = skin_to_table + 2.5
    layer[(y_full >= top) & (y_full <= top + 30.0)] = T("table_shell")
    layer[(y_full > top + 2.5) & (y_full < top + 27.5)] = T("table_foam")
    fat_start = SKIN_MM
    wall_start = fat_start + fat_thickness_mm(angle)
    layer[depth >= 0] = T("skin")
    layer[depth >= fat_start] = T("subcutaneous_fat")
    layer[depth >= wall_start] = T("muscle")
    # Thin fat planes split the lateral wall into external/internal oblique and transversus.
    wall = wall_muscle_mm(angle)
    for fraction in (0.36, 0.7):
        plane = np.abs(depth - (wall_start + fraction * wall)) <= 0.5
        layer[plane & (angle > 1.1) & (angle < 2.5)] = T("subcutaneous_fat")
    layer[depth >= cavity_depth_mm(angle)] = T("visceral_fat")
    canvas.tissue[:] = layer[np.newaxis]


# -- muscles --------------------------------------------------------------------------------
def paint_muscles(canvas: Canvas) -> None:
    """Paraspinal muscles (all levels), psoas and quadratus lumborum (abdomen)."""
    z_low, z_high = _z_range(canvas)
    for side in (-1.0, 1.0):
        box = canvas.box((side * 34 - 23, 70, z_low), (side * 34 + 23, 102, z_high))
        if box is not None:
            inside = ((box.x - side * 34) / 22.0) ** 2 + ((box.y - 86) / 15.0) ** 2 <= 1.0
            canvas.paint(box, inside, T("muscle"), over=(T("visceral_fat"),))
        _paint_tube(
            canvas,
            [(side * 20, 44, 50), (side * 30, 42, 0), (side * 38, 40, -60), (side * 46, 36, -170)],
            [4.0, 11.0, 17.0, 22.0],
            T("muscle"),
            over=(T("visceral_fat"),),
        )
        _paint_tube(
            canvas,
            [(side * 56, 80, 45), (side * 62, 80, -40), (side * 68, 76, -170)],
            [5.0, 11.0, 14.0],
            T("muscle"),
            over=(T("visceral_fat"),),
        )


# -- skeleton -------------------------------------------------------------------------------
def vertebra_centers_z(z_low: float, z_high: float) -> list[float]:
    """z of the vertebral body centres whose vertebra reaches into ``[z_low, z_high]``."""
    first = int(np.floor((z_low - _T12_Z_MM) / _VERTEBRA_PITCH_MM)) - 1
    last = int(np.ceil((z_high - _T12_Z_MM) / _VERTEBRA_PITCH_MM)) + 1
    return [_T12_Z_MM + n * _VERTEBRA_PITCH_MM for n in range(first, last + 1)]


def _vertebral_semi_axes(z: float) -> tuple[float, float]:
    # Lumbar bodies are wider than thoracic ones.
    fraction = float(np.clip((z + 120.0) / 380.0, 0.0, 1.0))
    return 24.0 - 8.0 * fraction, 17.5 - 4.0 * fraction


def paint_spine(canvas: Canvas) -> None:
    """Vertebral bodies (cortical shell, cancellous core), discs, arches, processes, canal."""
    z_low, z_high = _z_range(canvas)
    cy = _SPINE_CENTER_Y_MM
    for zc in vertebra_centers_z(z_low, z_high):
        a, b = _vertebral_semi_axes(zc)
        box = canvas.box((-a - 2, cy - b - 1, zc - 17), (a + 2, cy + b + 1, zc + 21))
        if box is not None:
            dz = np.abs(box.z - zc)
            outer = (box.x / a) ** 2 + ((box.y - cy) / b) ** 2 <= 1.0
            inner = (box.x / (a - 1.8)) ** 2 + ((box.y - cy) / (b - 1.8)) ** 2 <= 1.0
            body = dz <= _VERTEBRA_HALF_HEIGHT_MM
            canvas.paint(box, outer & body, T("cortical_bone"))
            canvas.paint(box, inner & (dz <= _VERTEBRA_HALF_HEIGHT_MM - 1.7), T("cancellous_bone"))
            disc = (box.x / (a + 0.6)) ** 2 + ((box.y - cy) / (b + 0.6)) ** 2 <= 1.0
            canvas.paint(box, disc & (box.z - zc > _VERTEBRA_HALF_HEIGHT_MM), T("disc"))
        _paint_posterior_elements(canvas, zc)
    canal = canvas.box((-11, _CANAL_CENTER_Y_MM - 9, z_low), (11, _CANAL_CENTER_Y_MM + 9, z_high))
    if canal is not None:
        inside = (canal.x / 10.0) ** 2 + ((canal.y - _CANAL_CENTER_Y_MM) / 8.0) ** 2 <= 1.0
        canvas.paint(canal, inside, T("spinal_canal"))


def _paint_posterior_elements(canvas: Canvas, zc: float) -> None:
    cy = _CANAL_CENTER_Y_MM + 2.0
    box = canvas.box((-45, cy - 16, zc - 22), (45, 94, zc + 10))
    if box is None:
        return
    z = box.z - zc
    arch_levels = (z >= -16) & (z <= 9)
    ring = (box.x / 17.0) ** 2 + ((box.y - cy) / 15.0) ** 2
    canvas.paint(box, (ring <= 1.0) & arch_levels, T("cortical_bone"))
    core = (box.x / 15.0) ** 2 + ((box.y - cy) / 13.0) ** 2
    canvas.paint(box, (core <= 1.0) & (ring > 0.55) & arch_levels, T("cancellous_bone"))
    spinous = (np.abs(box.x) <= 4.0) & (box.y >= 84.0) & (box.y <= 92.0) & (z >= -20) & (z <= 2)
    canvas.paint(box, spinous, T("cortical_bone"))
    canvas.paint(
        box,
        (np.abs(box.x) <= 2.0) & (box.y >= 86.0) & (box.y <= 90.5) & (z >= -18) & (z <= 0),
        T("cancellous_bone"),
    )
    # Transverse processes leave the arch laterally and slightly backwards, tapering.
    reach = 40.0 if zc < _T12_Z_MM + 10.0 else 28.0
    lateral = np.abs(box.x)
    axis_y = 68.0 + 0.12 * (lateral - 14.0)
    half_height = 4.0 - 2.0 * np.clip((lateral - 14.0) / (reach - 14.0), 0.0, 1.0)
    transverse = (lateral >= 14.0) & (lateral <= reach) & (np.abs(z + 2.0) <= 5.0)
    canvas.paint(box, transverse & (np.abs(box.y - axis_y) <= half_height), T("cortical_bone"))
    canvas.paint(
        box,
        transverse & (np.abs(box.y - axis_y) <= half_height - 1.5) & (np.abs(z + 2.0) <= 3.5),
        T("cancellous_bone"),
    )


def _rib_end_angle(rib: int) -> float:
    if rib <= 7:
        return np.pi - 0.2
    if rib <= 10:
        return np.pi - 0.45
    return 1.9 if rib == 11 else 1.35


def rib_center_z(rib: int, angle: FloatArray) -> FloatArray:
    """Height (mm) of rib ``rib`` (1..12) at ``angle`` from the posterior midline."""
    vertebra_z = _T12_Z_MM + _VERTEBRA_PITCH_MM * (12 - rib)
    start = 0.30
    fraction = np.clip((angle - start) / (np.pi - start), 0.0, 1.0)
    return vertebra_z + 8.0 - 100.0 * fraction


def paint_ribs(canvas: Canvas) -> None:
    """Twelve pairs of ribs as curved tubes (cortex around marrow) inside the body wall."""
    z_low, z_high = _z_range(canvas)
    full = canvas.full_box()
    x, y = full.x[0], full.y[0]
    depth = body_depth_mm(x, y)
    angle = angle_from_posterior(x, y)
    radial = (depth - rib_depth_mm(angle)) / 3.2
    rows, columns = np.nonzero((np.abs(radial) <= 1.0) & (angle >= 0.30))
    radial_sq = radial[rows, columns] ** 2
    pixel_angle = angle[rows, columns]
    pixel_side = np.sign(x[0, columns])
    z_axis = full.z[:, 0, 0]
    for rib in range(1, 13):
        for side in (-1.0, 1.0):
            on_rib = (pixel_angle <= _rib_end_angle(rib)) & (pixel_side == side)
            center_z = rib_center_z(rib, pixel_angle[on_rib])
            if center_z.size == 0 or center_z.min() - 6 > z_high or center_z.max() + 6 < z_low:
                continue
            slices = np.nonzero((z_axis >= center_z.min() - 6) & (z_axis <= center_z.max() + 6))[0]
            level = (
                radial_sq[on_rib][np.newaxis, :]
                + ((z_axis[slices, np.newaxis] - center_z[np.newaxis, :]) / 5.5) ** 2
            )
            for tissue, limit in ((T("cortical_bone"), 1.0), (T("cancellous_bone"), 0.35)):
                slice_index, pixel = np.nonzero(level <= limit)
                canvas.tissue[slices[slice_index], rows[on_rib][pixel], columns[on_rib][pixel]] = (
                    tissue
                )


def paint_sternum(canvas: Canvas) -> None:
    center_y = -BODY_ANTERIOR_MM + SKIN_MM + 13.0 + 6.0
    box = canvas.box((-17, center_y - 7, 132), (17, center_y + 7, 420))
    if box is None:
        return
    xiphoid = box.z < 145.0
    semi_x = np.where(xiphoid, np.float32(8.0), np.float32(16.0))
    level = (box.x / semi_x) ** 2 + ((box.y - center_y) / 6.0) ** 2
    canvas.paint(box, level <= 1.0, T("cortical_bone"))
    canvas.paint(box, (level <= 0.45) & ~xiphoid, T("cancellous_bone"))


# -- thorax ---------------------------------------------------------------------------------
def diaphragm_z_mm(x: FloatArray, y: FloatArray) -> FloatArray:
    """Height of the diaphragm's mid-surface: two domes, steeper posteriorly."""
    curvature_y = np.where(y < 5.0, np.float32(1.0 / 260.0), np.float32(1.0 / 120.0))
    y_term = (y - 5.0) ** 2 * curvature_y
    right = 157.0 - (x + 55.0) ** 2 / 200.0 - y_term
    left = 143.0 - (x - 55.0) ** 2 / 200.0 - y_term
    return np.maximum(right, left)


def diaphragm_half_thickness_mm(x: FloatArray, y: FloatArray) -> FloatArray:
    """Vertical half-thickness of a 4.4 mm sheet, larger where the surface is steep."""
    curvature_y = np.where(y < 5.0, np.float32(1.0 / 260.0), np.float32(1.0 / 120.0))
    right = x < 0
    slope_x = np.where(right, -(x + 55.0), -(x - 55.0)) / 100.0
    slope_y = -2.0 * (y - 5.0) * curvature_y
    return 2.2 * np.sqrt(1.0 + slope_x**2 + slope_y**2)


def below_diaphragm(box: Box) -> NDArray[np.bool_]:
    return box.z < diaphragm_z_mm(box.x, box.y) - diaphragm_half_thickness_mm(box.x, box.y)


def _mediastinum(box: Box) -> NDArray[np.bool_]:
    # Spine, aorta and oesophagus posteriorly; anteriorly the lungs reach the midline.
    return ((box.x - 5.0) / 32.0) ** 2 + ((box.y - 15.0) / 72.0) ** 2 <= 1.0


_HEART_CENTER = (20.0, -35.0, 190.0)
_HEART_SEMI_MM = (55.0, 45.0, 57.0)


def paint_thorax(canvas: Canvas) -> None:
    """Diaphragm, heart, lungs with vessel trees (above the diaphragm)."""
    z_low, z_high = _z_range(canvas)
    if z_high < 95.0:
        return
    box = canvas.box(
        (-BODY_HALF_WIDTH_MM, -BODY_ANTERIOR_MM, max(z_low, 95.0)),
        (BODY_HALF_WIDTH_MM, BODY_POSTERIOR_MM, z_high),
    )
    if box is None:
        return
    surface = diaphragm_z_mm(box.x, box.y)
    half = diaphragm_half_thickness_mm(box.x, box.y)
    fat = (T("visceral_fat"),)
    canvas.paint(box, np.abs(box.z - surface) <= half, T("diaphragm"), over=fat)
    lung = (box.z > surface + half) & ~_mediastinum(box)
    del surface, half
    canvas.paint(box, lung, T("lung"), over=fat)
    # The heart (with a pericardial fat rim) displaces lung; it rests on the diaphragm.
    semi = np.asarray(_HEART_SEMI_MM)
    heart_box = canvas.box(
        np.asarray(_HEART_CENTER) - semi - 5.0, np.asarray(_HEART_CENTER) + semi + 5.0
    )
    if heart_box is not None:
        above = heart_box.z > diaphragm_z_mm(
            heart_box.x, heart_box.y
        ) + diaphragm_half_thickness_mm(heart_box.x, heart_box.y)
        pericardium = ellipsoid_level(heart_box, _HEART_CENTER, semi + 4.0) <= 1.0
        canvas.paint(heart_box, pericardium & above, T("visceral_fat"), over=(T("lung"),))
        heart = ellipsoid_level(heart_box, _HEART_CENTER, semi) <= 1.0
        canvas.paint(heart_box, heart & above, T("myocardium"), over=fat)
        chamber = ellipsoid_level(heart_box, _HEART_CENTER, semi - 9.0) <= 1.0
        canvas.paint(heart_box, chamber & above, T("cardiac_blood"), over=(T("myocardium"),))
    _paint_lung_vessels(canvas)


def _paint_lung_vessels(canvas: Canvas) -> None:
    rng = np.random.default_rng(ANATOMY_SEED)
    lobar_directions = (
        (-0.3, 0.5, -0.8),
        (-0.2, -0.1, -1.0),
        (-0.5, -0.7, -0.2),
        (-0.9, 0.3, -0.3),
        (-0.6, 0.6, 0.2),
        (-0.3, -0.6, 0.7),
        (-0.2, 0.3, 1.0),
    )
    over_trunk = (T("visceral_fat"), T("lung"))
    for side, mediastinal, hilum in (
        (-1.0, (-22.0, 2.0, 200.0), (-42.0, 5.0, 195.0)),
        (1.0, (32.0, 5.0, 198.0), (48.0, 8.0, 192.0)),
    ):
        _paint_tube(
            canvas, [mediastinal, hilum], [6.5, 6.0], T("pulmonary_vessel"), over=over_trunk
        )
        for direction in lobar_directions:
            mirrored = np.array([-side * direction[0], direction[1], direction[2]])
            _paint_vessel_tree(
                canvas, rng, np.asarray(hilum), mirrored, length_mm=30.0, radius_mm=4.5
            )


def _paint_vessel_tree(
    canvas: Canvas,
    rng: np.random.Generator,
    start: NDArray[np.float64],
    direction: NDArray[np.float64],
    *,
    length_mm: float,
    radius_mm: float,
) -> None:
    """A bifurcating tree of tapering tubes, clipped to the lung.

    Daughter radii shrink by 2^(-1/3) (Murray's law for a symmetric split).
    """
    stack = [(start, direction / np.linalg.norm(direction), length_mm, radius_mm)]
    while stack:
        origin, unit, length, radius = stack.pop()
        end = origin + unit * length
        tissue = T("pulmonary_vessel") if radius >= 3.5 else T("lung_vessel")
        _paint_tube(canvas, [origin, end], [radius, radius * 0.9], tissue, over=(T("lung"),))
        child_radius = radius * 0.79
        if child_radius < 0.6:
            continue
        normal = np.cross(unit, rng.normal(size=3))
        normal /= np.linalg.norm(normal)
        for sign in (-1.0, 1.0):
            angle = np.radians(rng.uniform(22.0, 38.0))
            child = np.cos(angle) * unit + sign * np.sin(angle) * normal
            stack.append((end, child, length * rng.uniform(0.74, 0.86), child_radius))


# -- abdominal organs -------------------------------------------------------------------------
def paint_abdominal_organs(canvas: Canvas) -> None:
    """Liver (two lobes), gallbladder, spleen and stomach, all below the diaphragm."""
    fat = (T("visceral_fat"),)
    box = canvas.box((-140, -100, 10), (75, 85, 175))
    if box is not None:
        right = ellipsoid_level(box, (-62, 0, 95), (72, 80, 78))
        left = ellipsoid_level(box, (8, -50, 118), (60, 32, 34))
        canvas.paint(box, ((right <= 1) | (left <= 1)) & below_diaphragm(box), T("liver"), over=fat)
    frame = orthonormal_frame((0.25, -0.35, 1.0), (1.0, 0.0, 0.0))
    box = canvas.box((-75, -95, 20), (-5, -25, 90))
    if box is not None:
        level = ellipsoid_level(box, (-40, -60, 55), (30, 13, 13), frame)
        canvas.paint(box, level <= 1, T("gallbladder"), over=(T("liver"), T("visceral_fat")))
    box = canvas.box((60, 10, 55), (115, 100, 160))
    if box is not None:
        level = ellipsoid_level(box, (88, 58, 108), (22, 40, 48))
        canvas.paint(box, (level <= 1) & below_diaphragm(box), T("spleen"), over=fat)
    box = canvas.box((20, -65, 60), (96, 0, 155))
    if box is not None:
        below = below_diaphragm(box)
        outer = ellipsoid_level(box, (58, -32, 108), (36, 30, 44))
        lumen = ellipsoid_level(box, (58, -32, 108), (32, 26, 40))
        canvas.paint(box, (outer <= 1) & below, T("stomach_wall"), over=fat)
        inside = (lumen <= 1) & below
        canvas.paint(box, inside & (box.y < -42), T("stomach_gas"), over=(T("stomach_wall"),))
        canvas.paint(box, inside & (box.y >= -42), T("stomach_fluid"), over=(T("stomach_wall"),))


# -- kidneys, ureters -------------------------------------------------------------------------
KIDNEY_SEMI_MM = (56.0, 27.0, 21.0)


def kidney_frame(side: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Centre and axes (rows: long axis, towards the hilum, third axis) of a kidney.

    ``side`` is -1 for the right kidney and +1 for the left one.
    """
    center = np.array([74.0 * side, 50.0, -18.0 if side < 0 else -2.0])
    frame = orthonormal_frame((-0.18 * side, 0.12, 1.0), (-0.55 * side, -0.8, 0.0))
    return center, frame


def paint_kidneys(canvas: Canvas) -> None:
    """Cortex, medullary pyramids, sinus fat, pelvis and calyces, ureters."""
    soft = (T("visceral_fat"), T("muscle"), T("liver"))
    for side in (-1.0, 1.0):
        center, frame = kidney_frame(side)
        box = canvas.box(center - 62.0, center + 62.0)
        if box is None:
            continue
        outer = ellipsoid_level(box, center, KIDNEY_SEMI_MM, frame)
        canvas.paint(box, outer <= 1, T("renal_cortex"), over=soft)
        inner = ellipsoid_level(box, center, np.asarray(KIDNEY_SEMI_MM) - 6.0, frame)
        sinus_center = center + 9.0 * frame[1]
        sinus_semi = np.array([34.0, 19.0, 11.0])
        sinus = ellipsoid_level(box, sinus_center, sinus_semi, frame)
        around_sinus = ellipsoid_level(box, sinus_center, sinus_semi + 4.0, frame)
        rel = (box.x - center[0], box.y - center[1], box.z - center[2])
        along = sum(frame[0][a] * rel[a] for a in range(3))
        across = sum(frame[2][a] * rel[a] for a in range(3))
        pyramids = np.cos(7.0 * np.arctan2(across, along)) > -0.35
        medulla = (inner <= 1) & (around_sinus > 1) & pyramids
        canvas.paint(box, medulla, T("renal_medulla"), over=(T("renal_cortex"),))
        canvas.paint(
            box, sinus <= 1, T("sinus_fat"), over=(*soft, T("renal_cortex"), T("renal_medulla"))
        )
        pelvis_center = center + 17.0 * frame[1] - 6.0 * frame[0]
        pelvis = ellipsoid_level(box, pelvis_center, (16.0, 9.0, 6.0), frame)
        canvas.paint(box, pelvis <= 1, T("urine"), over=(T("sinus_fat"), T("visceral_fat")))
        for pole in (-26.0, 0.0, 26.0):
            tip = center + 3.0 * frame[1] + pole * frame[0]
            _paint_tube(
                canvas, [pelvis_center, tip], [3.0, 2.2], T("urine"), over=(T("sinus_fat"),)
            )
        # The ureter leaves the hilum high and runs down the front of the psoas, some
        # 2 cm medial to the lower-pole tumor of the kidney case: near, but far enough
        # for a 5-mm margin with its ice clearance.
        exit_point = center + 26.0 * frame[1] + 6.0 * frame[0]
        _paint_tube(
            canvas,
            smooth_curve(
                [
                    exit_point,
                    (side * 37, 23, -45),
                    (side * 38, 21, -80),
                    (side * 41, 20, -120),
                    (side * 43, 20, -170),
                ]
            )[0],
            2.5,
            T("ureter"),
            over=(T("visceral_fat"), T("sinus_fat"), T("muscle")),
        )


# -- vessels ----------------------------------------------------------------------------------
def paint_vessels(canvas: Canvas) -> None:
    """Aorta, IVC, renal vessels, portal and hepatic veins."""
    soft = (
        T("visceral_fat"),
        T("muscle"),
        T("liver"),
        T("diaphragm"),
        T("lung"),
        T("myocardium"),
        T("sinus_fat"),
        T("renal_cortex"),
    )
    aorta, _ = smooth_curve(
        [(14, 17, -175), (13, 17, 0), (12, 16, 110), (18, 26, 170), (24, 32, 260), (26, 34, 330)]
    )
    _paint_tube(canvas, aorta, 11.5, T("aortic_blood"), over=soft)
    ivc, _ = smooth_curve(
        [(-21, 15, -175), (-21, 14, 20), (-22, 6, 100), (-18, -2, 160), (-12, -12, 188)]
    )
    _paint_tube(canvas, ivc, 11.0, T("caval_blood"), over=(*soft, T("cardiac_blood")))
    vessel_over = (*soft, T("urine"))
    for side in (-1.0, 1.0):
        center, frame = kidney_frame(side)
        hilum = center + 20.0 * frame[1]
        if side < 0:
            vein = [hilum, (-32, 10, -6)]
            artery = [(6, 22, 3), (-10, 30, 0), (-33, 32, -6), hilum + 4.0 * frame[2]]
        else:
            vein = [hilum, (38, 4, 2), (14, -5, 2), (-12, 5, 0)]
            artery = [(22, 16, 5), (40, 28, 3), hilum + 4.0 * frame[2]]
        _paint_tube(canvas, smooth_curve(vein)[0], 5.0, T("vessel_blood"), over=vessel_over)
        _paint_tube(canvas, smooth_curve(artery)[0], 3.0, T("vessel_blood"), over=vessel_over)
    portal = (T("liver"), T("visceral_fat"))
    _paint_tube(
        canvas,
        smooth_curve([(-2, -12, 50), (-20, -8, 85), (-35, -5, 100)])[0],
        7.0,
        T("vessel_blood"),
        over=portal,
    )
    _paint_branch(
        canvas, [(-35, -5, 100), (-70, 5, 105), (-98, 10, 98)], 6.0, 3.0, T("vessel_blood"), portal
    )
    _paint_branch(
        canvas,
        [(-35, -5, 100), (-10, -35, 110), (15, -50, 116)],
        5.0,
        3.0,
        T("vessel_blood"),
        portal,
    )
    hepatic = (T("liver"),)
    confluence = (-17.0, 0.0, 158.0)
    for path, r0 in (
        ([confluence, (-50, 8, 140), (-85, 15, 118), (-112, 18, 95)], 7.5),
        ([confluence, (-40, -30, 140), (-55, -55, 110)], 6.0),
        ([confluence, (0, -35, 150), (20, -55, 130)], 5.5),
    ):
        _paint_branch(canvas, path, r0, 2.5, T("hepatic_vein_blood"), hepatic)


# -- bowel ------------------------------------------------------------------------------------
def paint_bowel(canvas: Canvas) -> None:
    """Colon (with gas and stool), duodenum and small-bowel loops, in the visceral fat."""
    # The ascending colon lies anterolateral to the right kidney, about 3 cm in front of
    # the kidney case's lower-pole tumor.
    colon = [
        (-97, -14, -170),
        (-100, -20, -100),
        (-97, -24, -20),
        (-80, -40, 25),
        (-40, -75, 20),
        (0, -85, 5),
        (45, -75, 25),
        (88, -30, 70),
        (96, 15, 30),
        (95, 20, -60),
        (93, 15, -170),
    ]
    radii = [22, 22, 21, 19, 18, 17, 17, 16, 15, 15, 15]
    _paint_hollow_viscus(
        canvas,
        colon,
        radii,
        wall_mm=3.0,
        gas_fraction=0.3,
        tissues=("colon_wall", "colon_content", "colon_gas"),
    )
    duodenum = [
        (-30, -5, 45),
        (-46, 0, 20),
        (-44, 0, -25),
        (-34, -12, -55),
        (-10, -14, -62),
        (20, -14, -58),
        (35, -15, -40),
    ]
    _paint_hollow_viscus(
        canvas,
        duodenum,
        [12.0] * len(duodenum),
        wall_mm=2.5,
        gas_fraction=0.2,
        tissues=("bowel_wall", "bowel_fluid", "bowel_gas"),
    )
    # Small-bowel loops fill the anterior abdomen below the transverse colon: one
    # serpentine per 25 mm layer, jittered so that no two layers look alike.
    rng = np.random.default_rng(ANATOMY_SEED + 1)
    for layer, z in enumerate(np.arange(-168.0, -20.0, 25.0)):
        xs = np.linspace(-58.0, 58.0, 6)
        ys = np.where(np.arange(6) % 2 == layer % 2, -84.0, -42.0)
        points = np.column_stack([xs, ys, np.full(6, z)]) + rng.normal(0.0, 5.0, size=(6, 3))
        _paint_hollow_viscus(
            canvas,
            points,
            [11.5] * len(points),
            wall_mm=2.5,
            gas_fraction=0.25 if layer % 3 == 1 else 0.0,
            tissues=("bowel_wall", "bowel_fluid", "bowel_gas"),
        )


def _paint_hollow_viscus(
    canvas: Canvas,
    control_points: list,
    radii_mm: list,
    *,
    wall_mm: float,
    gas_fraction: float,
    tissues: tuple[str, str, str],
) -> None:
    """A tube with a wall, liquid content and gas on the side away from the table."""
    samples, parameter = smooth_curve(control_points)
    radii = np.interp(parameter, np.arange(len(radii_mm)), radii_mm)
    wall, content, gas = (T(name) for name in tissues)
    reach = radii.max() + 1.0
    box = canvas.box(samples.min(axis=0) - reach, samples.max(axis=0) + reach)
    if box is None:
        return
    clearance = tube_clearance(canvas, box, samples, radii)
    fat = (T("visceral_fat"),)
    canvas.paint(box, clearance <= 0, wall, over=fat)
    lumen = clearance <= -wall_mm
    if gas_fraction > 0:
        # Gas rises away from the table (towards -y in a supine patient): it fills the
        # part of the lumen that a copy of the tube shifted toward the table does not cover.
        toward_table = 2.0 * gas_fraction * canvas.table_side_y
        shift = np.array([0.0, toward_table, 0.0])[np.newaxis, :] * radii[:, np.newaxis]
        liquid = tube_clearance(canvas, box, samples + shift, radii) <= -wall_mm
        canvas.paint(box, lumen & ~liquid, gas, over=(wall,))
        canvas.paint(box, lumen & liquid, content, over=(wall,))
    else:
        canvas.paint(box, lumen, content, over=(wall,))


# -- helpers ----------------------------------------------------------------------------------
def _paint_tube(
    canvas: Canvas,
    points: list | NDArray[np.float64],
    radii_mm: float | list[float],
    tissue: int,
    *,
    over: tuple[int, ...] | None = None,
) -> None:
    points = np.asarray(points, dtype=np.float64)
    radii = np.broadcast_to(np.asarray(radii_mm, dtype=np.float64), (len(points),))
    reach = radii.max() + 1.0
    box = canvas.box(points.min(axis=0) - reach, points.max(axis=0) + reach)
    if box is None:
        return
    canvas.paint(box, tube_clearance(canvas, box, points, radii) <= 0, tissue, over=over)


def _paint_branch(
    canvas: Canvas,
    control_points: list,
    start_radius_mm: float,
    end_radius_mm: float,
    tissue: int,
    over: tuple[int, ...],
) -> None:
    samples, parameter = smooth_curve(control_points)
    radii = np.interp(parameter, [0, len(control_points) - 1], [start_radius_mm, end_radius_mm])
    _paint_tube(canvas, samples, radii, tissue, over=over)


def _z_range(canvas: Canvas) -> tuple[float, float]:
    box = canvas.full_box()
    return float(box.z[0, 0, 0]), float(box.z[-1, 0, 0])


#: The painting steps in order; each covers what the previous ones left where allowed.
TORSO_STEPS: tuple[tuple[str, Callable[[Canvas], None]], ...] = (
    ("body wall", paint_body_wall),
    ("muscles", paint_muscles),
    ("spine", paint_spine),
    ("ribs", paint_ribs),
    ("sternum", paint_sternum),
    ("thorax", paint_thorax),
    ("abdominal organs", paint_abdominal_organs),
    ("kidneys", paint_kidneys),
    ("vessels", paint_vessels),
    ("bowel", paint_bowel),
)


def paint_torso(
    canvas: Canvas,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Paint the whole torso model into ``canvas`` (only what its grid covers)."""
    report = progress or no_progress
    for index, (name, step) in enumerate(TORSO_STEPS):
        if cancel is not None:
            cancel.raise_if_cancelled()
        report(index / len(TORSO_STEPS), f"Painting {name}")
        step(canvas)
    report(1.0, "Anatomy painted")
