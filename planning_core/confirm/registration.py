"""Registration of a follow-up CT (during the freeze, or after the ablation) to the planning CT.

Three ways, in the order they are tried:

* **rigid**: a rigid (Euler) transform maximising Mattes mutual information,
  coarse to fine, over the patient's body (the table left out);
* **deformable**: after the rigid stage, a cubic B-spline restricted to the target
  organ (its mask on the planning grid, dilated a little): the organ slides and
  bends with breathing while the body around it moves rigidly. The displacement
  is tapered to zero a few centimetres from the organ, so that the skin and the
  probe entries keep the rigid transform;
* **fiducials**: a least-squares rigid transform from three or more point pairs
  that the user marks on both CTs, for when the images alone do not register.

Why SimpleITK and not itk-elastix: SimpleITK is already a dependency (DICOM and
volume reading) and its ``ImageRegistrationMethod`` offers what this needs
(mutual information, multi-resolution, masks, B-spline transforms, point
transforms, resampling), all inside the process with progress and cancel
callbacks. itk-elastix would add a large binary wheel and parameter files, and
its advantage (ready-made parameter maps, advanced B-spline penalties) does not
matter for a small organ-restricted deformation; the tests hold this module to
within 2 mm on the synthetic cases.

Quality is measured, never assumed: the organ's surface on the planning CT is
compared with the registered follow-up CT along surface normals (intensity-edge
profiles, no segmentation of the follow-up needed), giving the organ surface
distance; landmarks, when given, give the target registration error. Above the
thresholds below the registration is flagged (warning) or refused.

Transforms map points: ``planning_to_follow_up_lps`` is the forward map found by
the registration (ITK maps fixed to moving points), ``follow_up_to_planning_lps``
its inverse (exact for the rigid part, by fixed-point iteration through the
organ's displacement field).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import SimpleITK as sitk
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from planning_core.errors import InvalidParameterError, RegistrationError, SegmentationError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.sitk_bridge import array_to_sitk, geometry_from_sitk
from planning_core.imaging.volume import Volume
from planning_core.planning.body import body_mask_from_ct
from planning_core.progress import CancelToken, ProgressCallback, sub_progress

RegistrationMethod = Literal["rigid", "deformable", "fiducials"]
Verdict = Literal["ok", "warning", "refused"]

#: Voxel size the images are registered at (mm); finer costs time and gains little.
WORKING_SPACING_MM = 2.0
#: Organ surface distance (median over the surface, mm) above which a warning is given ...
SURFACE_WARNING_MM = 2.0
#: ... and above which the registration is refused.
SURFACE_REFUSAL_MM = 4.0
#: After a rigid fit alone, an organ surface still this far off (median, mm) means the organ
#: deformed or slid. The surface distance sees only motion across the surface, not sliding
#: along it (breathing slides liver and kidney along their surfaces), so the error inside can
#: be twice the figure: a warning, well before ``SURFACE_WARNING_MM``.
RIGID_SURFACE_WARNING_MM = 1.0
#: Below this share of surface profiles that find their edge again, the images do not match.
MIN_MATCHED_FRACTION = 0.3
#: Target (landmark) or fiducial registration error (mean, mm): warning above, refusal above.
POINT_WARNING_MM = 2.0
POINT_REFUSAL_MM = 5.0
#: Fewest point pairs a fiducial registration takes.
MIN_FIDUCIALS = 3
#: Around the tumor ice, probes and the ablation zone change the image: left out (mm).
TARGET_EXCLUSION_MM = 15.0
#: Follow-up voxels above this are metal (probes, clips) and left out of the metric (HU).
METAL_THRESHOLD_HU = 2000.0
#: How far around the organ the B-spline metric looks, and where its displacement fades out.
ORGAN_METRIC_MARGIN_MM = 10.0
ORGAN_TAPER_MM = 30.0
#: Distance between B-spline control points (mm): smooth, organ-scale deformation only.
CONTROL_SPACING_MM = 40.0
#: At most this many B-spline intervals per axis: a large organ gets sparser control points.
MAX_CONTROL_INTERVALS = 4
#: Intensity window the metric sees (HU): metal and air beyond it carry no extra information.
METRIC_WINDOW_HU = (-1000.0, 1000.0)
#: Surface profiles: half length, step, largest offset searched (mm), least edge (HU/mm).
_PROFILE_HALF_MM = 16.0
_PROFILE_STEP_MM = 0.5
_PROFILE_MAX_OFFSET_MM = 8.0
_PROFILE_MIN_EDGE_HU_PER_MM = 15.0
_PROFILE_MIN_CORRELATION = 0.7
_PROFILE_POINTS = 800
#: Samples the displacement field is extended by at its faces (see _deformable_stage).
_FIELD_PAD_SAMPLES = 2
_INVERSE_ITERATIONS = 30
_INVERSE_TOLERANCE_MM = 1e-3
#: Fixed seed of the metric's random sampling: the same inputs give the same registration.
_SAMPLING_SEED = 20240115
#: Metric samples per resolution level: enough for mutual information, few enough that
#: a large organ (the liver) costs no more than a small one.
_METRIC_SAMPLES = 15_000
#: The deformable stage's samples and optimizer budget. Its cost is samples times
#: metric evaluations (about 8 us each per sample on one core); its unknowns are a few
#: hundred smooth control-point shifts that start from the rigid fit, a few mm off at
#: most. With 10,000 samples and 20 quasi-Newton iterations the confirmation samples'
#: largest check-point error grew by at most 0.17 mm against twice both (and against the
#: former two-level search with 15,000 samples) at a quarter of the time.
_DEFORMABLE_SAMPLES = 10_000
_DEFORMABLE_ITERATIONS = 20
#: Gaussian smoothing of both images for the deformable stage (mm). Mutual information
#: sampled at random points of 2-mm voxels under linear interpolation is a jagged function
#: of the control points; the quasi-Newton search then stops on a false step, short of
#: the organ's motion in the middle of the organ, where only the distant surfaces inform
#: it. A millimetre of smoothing makes the cost smooth enough: on the liver-metastasis
#: intra-procedural sample the registration error at the probe tips fell from 1.0-2.0 mm
#: over five sampling seeds to 0.9-1.2 mm (1.5 and 2 mm: larger spread again).
_DEFORMABLE_SMOOTHING_MM = 1.0
FIDUCIAL_OPTION = "fiducial point pairs (--fiducials)"


@dataclass(frozen=True)
class RegistrationQuality:
    """How well the follow-up CT lies on the planning CT after registration.

    Attributes
    ----------
    verdict : {"ok", "warning", "refused"}
        ``refused`` means the registration must not be used.
    message : str
        One sentence for the user: the figures and, when not ok, what to do.
    surface : str
        Which surface was compared (the organ's label name, or ``"body"``).
    surface_distance_mm, surface_distance_p90_mm : float or None
        Median and 90th percentile of the distance between the planning
        surface and the same edge on the registered follow-up CT; ``None``
        when not assessed.
    matched_fraction : float or None
        Share of the surface profiles whose edge was found again.
    tre_mm, tre_max_mm : float or None
        Mean and largest target registration error over the landmarks.
    fre_mm : float or None
        Root-mean-square fiducial registration error (fiducial method).
    landmarks : int
        Number of landmark pairs behind ``tre_mm``.
    """

    verdict: Verdict
    message: str
    surface: str = ""
    surface_distance_mm: float | None = None
    surface_distance_p90_mm: float | None = None
    matched_fraction: float | None = None
    tre_mm: float | None = None
    tre_max_mm: float | None = None
    fre_mm: float | None = None
    landmarks: int = 0

    def to_json(self) -> dict[str, object]:
        def rounded(value: float | None, digits: int = 2) -> float | None:
            return None if value is None else round(float(value), digits)

        return {
            "verdict": self.verdict,
            "message": self.message,
            "surface": self.surface or None,
            "organ_surface_distance_mm": rounded(self.surface_distance_mm),
            "organ_surface_distance_p90_mm": rounded(self.surface_distance_p90_mm),
            "matched_profiles_percent": (
                None if self.matched_fraction is None else round(100 * self.matched_fraction, 1)
            ),
            "tre_mm": rounded(self.tre_mm),
            "tre_max_mm": rounded(self.tre_max_mm),
            "fre_mm": rounded(self.fre_mm),
            "landmarks": self.landmarks,
        }


@dataclass(frozen=True, eq=False)
class DisplacementField:
    """A displacement (mm) on a grid in the planning frame, zero outside it.

    ``vectors_mm[k, j, i]`` is added to the planning point at that voxel before
    the rigid transform (``follow_up = R(p + u(p))``).
    """

    geometry: Geometry
    vectors_mm: NDArray[np.float64]

    def at(self, points_lps: NDArray[np.float64]) -> NDArray[np.float64]:
        """Displacement at LPS points ``(n, 3)`` (trilinear; zero outside the grid)."""
        ijk = self.geometry.lps_to_index(points_lps)
        coordinates = ijk[:, ::-1].T
        return np.stack(
            [
                ndimage.map_coordinates(
                    self.vectors_mm[..., axis], coordinates, order=1, mode="constant", cval=0.0
                )
                for axis in range(3)
            ],
            axis=1,
        )

    @property
    def max_displacement_mm(self) -> float:
        return float(np.sqrt((self.vectors_mm**2).sum(axis=-1)).max(initial=0.0))

    def to_sitk(self) -> sitk.Transform:
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.vectors_mm), isVector=True)
        image.SetSpacing(tuple(float(v) for v in self.geometry.spacing_mm))
        image.SetOrigin(tuple(float(v) for v in self.geometry.origin_lps_mm))
        image.SetDirection(tuple(float(v) for v in self.geometry.direction.reshape(-1)))
        return sitk.DisplacementFieldTransform(image)


@dataclass(frozen=True, eq=False)
class Registration:
    """A follow-up CT registered to the planning CT.

    Attributes
    ----------
    method : {"rigid", "deformable", "fiducials"}
        How the transform was found.
    quality : RegistrationQuality
        Figures and verdict; see :meth:`require_usable`.
    planning_geometry : Geometry
        The planning CT's grid (what :meth:`resample_to_planning` returns on).
    rigid_matrix : ndarray, shape (4, 4)
        Homogeneous rigid transform from planning to follow-up LPS mm.
    deformation : DisplacementField or None
        The organ's displacement (deformable method only).
    warnings : tuple of str
        Tolerable problems (a stage that did not help, a figure not assessed).
    wall_s : float
        Time the registration took.
    """

    method: RegistrationMethod
    quality: RegistrationQuality
    planning_geometry: Geometry
    rigid_matrix: NDArray[np.float64]
    deformation: DisplacementField | None = None
    warnings: tuple[str, ...] = ()
    wall_s: float = 0.0
    _inverse_rigid: NDArray[np.float64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        matrix = np.asarray(self.rigid_matrix, dtype=np.float64)
        if matrix.shape != (4, 4) or not np.allclose(matrix[3], [0, 0, 0, 1]):
            raise InvalidParameterError("rigid_matrix must be a 4x4 homogeneous matrix.")
        matrix.setflags(write=False)
        object.__setattr__(self, "rigid_matrix", matrix)
        object.__setattr__(self, "_inverse_rigid", np.linalg.inv(matrix))

    @classmethod
    def from_matrix(
        cls,
        matrix: ArrayLike,
        planning_geometry: Geometry,
        *,
        method: RegistrationMethod = "rigid",
        quality: RegistrationQuality | None = None,
    ) -> Registration:
        """A registration from a known planning-to-follow-up rigid matrix (tests, saved cases)."""
        return cls(
            method=method,
            quality=quality or RegistrationQuality("ok", "Transform given, quality not assessed."),
            planning_geometry=planning_geometry,
            rigid_matrix=np.asarray(matrix, dtype=np.float64),
        )

    # -- point maps -------------------------------------------------------------------
    def planning_to_follow_up_lps(self, points_lps: ArrayLike) -> NDArray[np.float64]:
        """Map planning-CT points (``(3,)`` or ``(n, 3)``, LPS mm) into the follow-up CT."""
        points, single = _points(points_lps)
        if self.deformation is not None:
            points = points + self.deformation.at(points)
        mapped = _apply(self.rigid_matrix, points)
        return mapped[0] if single else mapped

    def follow_up_to_planning_lps(self, points_lps: ArrayLike) -> NDArray[np.float64]:
        """Map follow-up-CT points (``(3,)`` or ``(n, 3)``, LPS mm) into the planning CT."""
        points, single = _points(points_lps)
        target = _apply(self._inverse_rigid, points)
        mapped = target.copy()
        if self.deformation is not None:
            # p + u(p) = target, solved by p <- target - u(p); u is smooth and small
            # (its gradient well below 1), so the iteration contracts.
            for _ in range(_INVERSE_ITERATIONS):
                updated = target - self.deformation.at(mapped)
                change = float(np.abs(updated - mapped).max(initial=0.0))
                mapped = updated
                if change < _INVERSE_TOLERANCE_MM:
                    break
        return mapped[0] if single else mapped

    def sitk_transform(self) -> sitk.Transform:
        """The planning-to-follow-up map as a SimpleITK transform (for resampling)."""
        affine = sitk.AffineTransform(3)
        affine.SetMatrix(tuple(float(v) for v in self.rigid_matrix[:3, :3].reshape(-1)))
        affine.SetTranslation(tuple(float(v) for v in self.rigid_matrix[:3, 3]))
        if self.deformation is None:
            return affine
        # A composite applies its last transform first: the displacement, then the rigid part.
        return sitk.CompositeTransform([affine, self.deformation.to_sitk()])

    def resample_to_planning(self, image: Volume | LabelMap, *, labels: bool) -> Volume | LabelMap:
        """``image`` (on the follow-up CT's grid) brought onto the planning grid.

        Parameters
        ----------
        image : Volume or LabelMap
            Anything on a follow-up grid: the CT, a mask (``Volume`` of 0/1), a label map.
        labels : bool
            Nearest-neighbour interpolation (labels, masks) instead of linear (intensities).
            A ``LabelMap`` is always resampled as labels.

        Returns
        -------
        Volume or LabelMap
            The same kind as ``image``, on :attr:`planning_geometry`; outside the
            follow-up CT, air (-1024 HU) for a CT and 0 otherwise.
        """
        is_label_map = isinstance(image, LabelMap)
        voxels = np.asarray(image.voxels)
        nearest = labels or is_label_map
        if nearest:
            source = array_to_sitk(voxels, image.geometry)
        else:
            source = array_to_sitk(voxels.astype(np.float32, copy=False), image.geometry)
        reference = array_to_sitk(
            np.zeros((1, 1, 1), dtype=np.uint8), self.planning_geometry.with_shape((1, 1, 1))
        )
        ni, nj, nk = self.planning_geometry.size_ijk
        reference = sitk.Resample(
            reference,
            (ni, nj, nk),
            sitk.Transform(3, sitk.sitkIdentity),
            sitk.sitkNearestNeighbor,
            tuple(float(v) for v in self.planning_geometry.origin_lps_mm),
            tuple(float(v) for v in self.planning_geometry.spacing_mm),
            tuple(float(v) for v in self.planning_geometry.direction.reshape(-1)),
        )
        is_ct = isinstance(image, Volume) and image.modality == "CT" and not nearest
        resampled = sitk.Resample(
            source,
            reference,
            self.sitk_transform(),
            sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear,
            -1024.0 if is_ct else 0.0,
        )
        array = sitk.GetArrayFromImage(resampled)
        if is_label_map:
            return LabelMap(array.astype(voxels.dtype), self.planning_geometry, image.table)
        if nearest:
            array = array.astype(voxels.dtype)
        return Volume(array, self.planning_geometry, image.modality, dict(image.metadata))

    # -- verdicts and output ----------------------------------------------------------
    @property
    def usable(self) -> bool:
        return self.quality.verdict != "refused"

    def require_usable(self) -> None:
        """Raise :class:`RegistrationError` with the quality message when refused."""
        if not self.usable:
            raise RegistrationError(self.quality.message)

    def to_json(self) -> dict[str, object]:
        rotation = self.rigid_matrix[:3, :3]
        angle = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(rotation) - 1.0) / 2.0))))
        return {
            "method": self.method,
            "verdict": self.quality.verdict,
            "message": self.quality.message,
            "quality": self.quality.to_json(),
            "rigid": {
                "matrix_planning_to_follow_up": np.round(self.rigid_matrix, 6).tolist(),
                "rotation_deg": round(angle, 2),
                "translation_mm": np.round(self.rigid_matrix[:3, 3], 2).tolist(),
            },
            "deformation": (
                None
                if self.deformation is None
                else {"max_displacement_mm": round(self.deformation.max_displacement_mm, 2)}
            ),
            "warnings": list(self.warnings),
            "wall_s": round(self.wall_s, 2),
        }


def register_follow_up(
    planning: Volume,
    follow_up: Volume,
    *,
    organ_mask: NDArray[np.bool_] | None = None,
    target_mask: NDArray[np.bool_] | None = None,
    fiducials: ArrayLike | None = None,
    landmarks: ArrayLike | None = None,
    deformable: bool = True,
    working_spacing_mm: float = WORKING_SPACING_MM,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Registration:
    """Register a follow-up CT to the planning CT.

    Parameters
    ----------
    planning, follow_up : Volume
        The planning CT (fixed) and the CT taken during or after the ablation
        (moving), in Hounsfield units, each on its own grid.
    organ_mask : ndarray of bool, optional
        The target organ on the planning grid: the deformable stage is
        restricted to it and the quality is measured on its surface (the body
        outline otherwise).
    target_mask : ndarray of bool, optional
        The tumor on the planning grid. Ice, probes and the ablation zone change
        the image within :data:`TARGET_EXCLUSION_MM` of it, so that region is left
        out of the image metric and of the surface distance.
    fiducials : array_like, shape (n, 2, 3), optional
        Point pairs ``(planning_lps_mm, follow_up_lps_mm)``, at least three not
        on one line: when given, the transform is their least-squares rigid fit
        and the images are not registered.
    landmarks : array_like, shape (n, 2, 3), optional
        Independent point pairs giving the target registration error.
    deformable : bool
        Run the organ-restricted B-spline stage (needs ``organ_mask``).
    working_spacing_mm : float
        Voxel size the images are registered at.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    Registration
        With its quality verdict; a refused registration is returned, not
        raised (:meth:`Registration.require_usable` raises).
    """
    started = time.perf_counter()
    if not (math.isfinite(working_spacing_mm) and 0.5 <= working_spacing_mm <= 8.0):
        raise InvalidParameterError(
            f"working_spacing_mm must be between 0.5 and 8 mm, got {working_spacing_mm}."
        )
    if organ_mask is not None:
        organ_mask = np.asarray(organ_mask, dtype=bool)
        if organ_mask.shape != planning.shape:
            raise InvalidParameterError(
                f"organ_mask shape {organ_mask.shape} does not match the planning CT "
                f"{planning.shape}; give the organ on the planning grid."
            )
        if not organ_mask.any():
            raise InvalidParameterError("organ_mask is empty; segment the target organ first.")
    if target_mask is not None:
        target_mask = np.asarray(target_mask, dtype=bool)
        if target_mask.shape != planning.shape or not target_mask.any():
            raise InvalidParameterError(
                "target_mask must mark the tumor on the planning grid; segment the tumor first."
            )
    landmark_pairs = None if landmarks is None else _pairs(landmarks, "landmarks", minimum=1)
    warnings: list[str] = []
    if fiducials is not None:
        pairs = _pairs(fiducials, "fiducials", minimum=MIN_FIDUCIALS)
        matrix, fre_mm = fit_rigid(pairs[:, 0], pairs[:, 1])
        registration = Registration.from_matrix(matrix, planning.geometry, method="fiducials")
        quality = assess_registration(
            registration, planning, follow_up, organ_mask, target_mask, landmark_pairs,
            fre_mm=fre_mm,
        )  # fmt: skip
        return _finished(registration, quality, warnings, started)

    fixed = _working_image(planning, working_spacing_mm)
    moving = _working_image(follow_up, working_spacing_mm)
    center = (
        planning.geometry.index_to_lps(np.argwhere(organ_mask).mean(axis=0)[::-1])
        if organ_mask is not None
        else planning.geometry.center_lps()
    )
    working = geometry_from_sitk(fixed)
    changed = (
        None
        if target_mask is None
        else _within(
            _mask_on(target_mask, planning.geometry, working), working, TARGET_EXCLUSION_MM
        )
    )
    body = _body_mask(fixed)
    if body is None:
        warnings.append("The patient's body was not found on the planning CT; whole image used.")
        body = np.ones(working.shape, dtype=bool)
    metric_mask = body if changed is None else body & ~changed
    no_metal = _no_metal_mask(follow_up, moving)
    matrix = _rigid_stage(
        fixed,
        moving,
        array_to_sitk(metric_mask.astype(np.uint8), working),
        no_metal,
        center,
        progress=sub_progress(progress, 0.0, 0.5),
        cancel=cancel,
    )
    rigid = Registration.from_matrix(matrix, planning.geometry)
    rigid_quality = assess_registration(
        rigid, planning, follow_up, organ_mask, target_mask, landmark_pairs
    )
    if not deformable or organ_mask is None or rigid_quality.verdict == "refused":
        if deformable and organ_mask is None:
            warnings.append("No organ mask given: the deformable stage was skipped.")
        # A refused rigid stage means the images do not match: bending cannot mend that.
        return _finished(rigid, rigid_quality, warnings, started)
    if cancel is not None:
        cancel.raise_if_cancelled()
    field_ = _deformable_stage(
        fixed,
        moving,
        no_metal,
        changed,
        matrix,
        organ_mask,
        planning.geometry,
        progress=sub_progress(progress, 0.5, 0.9),
        cancel=cancel,
    )
    deformed = Registration(
        method="deformable",
        quality=rigid_quality,
        planning_geometry=planning.geometry,
        rigid_matrix=matrix,
        deformation=field_,
    )
    deformed_quality = assess_registration(
        deformed, planning, follow_up, organ_mask, target_mask, landmark_pairs
    )
    if progress is not None:
        progress(1.0, "Registration done")
    if _score(deformed_quality) > _score(rigid_quality) + 0.05:
        warnings.append(
            "The deformable stage did not improve the organ's fit; the rigid transform is kept."
        )
        return _finished(rigid, rigid_quality, warnings, started)
    return _finished(deformed, deformed_quality, warnings, started)


def target_organ_mask(
    organ_mask: NDArray[np.bool_], target_mask: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """The connected piece of an organ label that holds or touches the tumor, tumor included.

    A label map's ``kidney`` or ``lung`` marks both sides; the deformable stage
    wants the one the tumor is in (``organ_mask=`` of :func:`register_follow_up`).
    """
    organ = np.asarray(organ_mask, dtype=bool) | np.asarray(target_mask, dtype=bool)
    components, count = ndimage.label(organ)
    if count <= 1:
        return organ
    touching = np.bincount(components[np.asarray(target_mask, dtype=bool)], minlength=count + 1)
    touching[0] = 0
    return components == int(touching.argmax())


def fit_rigid(
    planning_lps: ArrayLike, follow_up_lps: ArrayLike
) -> tuple[NDArray[np.float64], float]:
    """Least-squares rigid transform taking planning points onto follow-up points.

    Returns the 4x4 homogeneous matrix (planning to follow-up) and the
    root-mean-square residual (fiducial registration error, mm).

    Raises
    ------
    InvalidParameterError
        For fewer than three pairs or points on one line.
    """
    source = np.asarray(planning_lps, dtype=np.float64).reshape(-1, 3)
    target = np.asarray(follow_up_lps, dtype=np.float64).reshape(-1, 3)
    if len(source) < MIN_FIDUCIALS or source.shape != target.shape:
        raise InvalidParameterError(
            f"fiducials: give at least {MIN_FIDUCIALS} point pairs (planning and follow-up), "
            f"got {len(source)}."
        )
    source_center = source.mean(axis=0)
    target_center = target.mean(axis=0)
    covariance = (source - source_center).T @ (target - target_center)
    u, _singular, vt = np.linalg.svd(covariance)
    spread = np.linalg.svd(source - source_center, compute_uv=False)
    if spread[1] < 1e-3 * max(spread[0], 1e-12) or spread[1] < 1.0:
        raise InvalidParameterError(
            "fiducials: the points lie (nearly) on one line, which leaves a rotation free; "
            "mark at least three points spread apart on both CTs."
        )
    sign = float(np.sign(np.linalg.det(vt.T @ u.T))) or 1.0
    rotation = vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = target_center - rotation @ source_center
    residual = _apply(matrix, source) - target
    return matrix, float(np.sqrt((residual**2).sum(axis=1).mean()))


# -- stages ------------------------------------------------------------------------------
def _working_image(volume: Volume, spacing_mm: float) -> sitk.Image:
    """The volume binned to about ``spacing_mm`` (averaging: no aliasing), HU windowed."""
    low, high = METRIC_WINDOW_HU
    voxels = np.clip(np.asarray(volume.voxels, dtype=np.float32), low, high)
    image = array_to_sitk(voxels, volume.geometry)
    factors = [max(1, round(spacing_mm / s)) for s in volume.geometry.spacing_mm]
    return sitk.BinShrink(image, factors) if max(factors) > 1 else image


def _body_mask(fixed: sitk.Image) -> NDArray[np.bool_] | None:
    geometry = geometry_from_sitk(fixed)
    try:
        return body_mask_from_ct(Volume(sitk.GetArrayFromImage(fixed), geometry, "CT"))
    except SegmentationError:
        return None


def _observe(
    method: sitk.ImageRegistrationMethod,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
    message: str,
    expected_iterations: int,
) -> None:
    count = [0]

    def on_iteration() -> None:
        count[0] += 1
        if cancel is not None and cancel.cancelled:
            method.StopRegistration()
        if progress is not None:
            progress(min(count[0] / expected_iterations, 0.99), message)

    method.AddCommand(sitk.sitkIterationEvent, on_iteration)


def _rigid_stage(
    fixed: sitk.Image,
    moving: sitk.Image,
    fixed_mask: sitk.Image,
    moving_mask: sitk.Image | None,
    center: NDArray[np.float64],
    *,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> NDArray[np.float64]:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=48)
    method.SetMetricSamplingStrategy(method.RANDOM)
    # Coarse levels have few voxels, the finest many: about 10^4-10^5 samples each.
    shrinks = [4, 2, 1]
    counted = int(np.count_nonzero(sitk.GetArrayViewFromImage(fixed_mask)))
    method.SetMetricSamplingPercentagePerLevel(_sampling(counted, shrinks), _SAMPLING_SEED)
    method.SetMetricFixedMask(fixed_mask)
    if moving_mask is not None:
        method.SetMetricMovingMask(moving_mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=4.0,
        minStep=0.01,
        numberOfIterations=200,
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrinks)
    method.SetSmoothingSigmasPerLevel([4.0, 2.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    # Both CTs come from one scanner, so the same coordinates already lie near the
    # same anatomy: start from the identity, rotating about the organ.
    transform = sitk.Euler3DTransform()
    transform.SetCenter(tuple(float(v) for v in center))
    method.SetInitialTransform(transform, inPlace=True)
    _observe(method, progress, cancel, "Rigid registration", 300)
    _execute(method, fixed, moving)
    if cancel is not None:
        cancel.raise_if_cancelled()
    return _matrix_of(transform)


def _deformable_stage(
    fixed: sitk.Image,
    moving: sitk.Image,
    moving_mask: sitk.Image | None,
    changed: NDArray[np.bool_] | None,
    rigid_matrix: NDArray[np.float64],
    organ_mask: NDArray[np.bool_],
    planning_geometry: Geometry,
    *,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> DisplacementField:
    working = geometry_from_sitk(fixed)
    organ = _mask_on(organ_mask, planning_geometry, working)
    # The domain: the organ's box grown by the taper distance (and a voxel).
    region = _box(organ, working, ORGAN_TAPER_MM)
    start = tuple(r.start for r in region)
    domain_geometry = working.cropped(start, organ[region].shape)
    outside_distance = ndimage.distance_transform_edt(
        ~organ[region], sampling=working.spacing_kji_mm
    )
    metric_mask = outside_distance <= ORGAN_METRIC_MARGIN_MM
    if changed is not None:
        kept = metric_mask & ~changed[region]
        if kept.sum() >= 0.2 * metric_mask.sum():
            metric_mask = kept
    domain_image = array_to_sitk(sitk.GetArrayFromImage(fixed)[region], domain_geometry)
    # The moving image only where the domain lands after the rigid transform (and a
    # margin for the deformation): smoothing the whole CT at every level costs time.
    landed = _apply(rigid_matrix, domain_geometry.corners_lps())
    moving_geometry = geometry_from_sitk(moving)
    corners = moving_geometry.lps_to_index(
        np.vstack([landed.min(axis=0) - ORGAN_TAPER_MM, landed.max(axis=0) + ORGAN_TAPER_MM])
    )
    low = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, None)
    high = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, moving_geometry.size_ijk)
    if np.any(high - low < 4):
        raise RegistrationError(
            "The target organ lies outside the follow-up CT after the rigid registration; "
            f"check that the follow-up CT covers it, or register with {FIDUCIAL_OPTION}."
        )
    moving_crop = moving[
        int(low[0]) : int(high[0]), int(low[1]) : int(high[1]), int(low[2]) : int(high[2])
    ]
    extent_mm = domain_geometry.extent_mm
    mesh = [min(MAX_CONTROL_INTERVALS, max(1, round(e / CONTROL_SPACING_MM))) for e in extent_mm]
    bspline = sitk.BSplineTransformInitializer(domain_image, mesh, 3)

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=48)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentagePerLevel(
        _sampling(int(metric_mask.sum()), [1], samples=_DEFORMABLE_SAMPLES), _SAMPLING_SEED
    )
    method.SetMetricFixedMask(array_to_sitk(metric_mask.astype(np.uint8), domain_geometry))
    if moving_mask is not None:
        method.SetMetricMovingMask(moving_mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsLBFGSB(
        gradientConvergenceTolerance=1e-5,
        numberOfIterations=_DEFORMABLE_ITERATIONS,
        maximumNumberOfCorrections=5,
        maximumNumberOfFunctionEvaluations=int(1.5 * _DEFORMABLE_ITERATIONS),
        costFunctionConvergenceFactor=1e7,
    )
    # One level at the working voxel size: after the rigid stage the organ is at most a
    # few mm off (breathing), well within the capture range of the smooth control grid,
    # so a coarser pyramid level would only repeat the search (it cost a third of the time).
    method.SetShrinkFactorsPerLevel([1])
    method.SetSmoothingSigmasPerLevel([_DEFORMABLE_SMOOTHING_MM])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    rigid = sitk.AffineTransform(3)
    rigid.SetMatrix(tuple(float(v) for v in rigid_matrix[:3, :3].reshape(-1)))
    rigid.SetTranslation(tuple(float(v) for v in rigid_matrix[:3, 3]))
    method.SetMovingInitialTransform(rigid)
    method.SetInitialTransform(bspline, inPlace=True)
    _observe(method, progress, cancel, "Deformable registration of the organ", 30)
    _execute(method, domain_image, moving_crop)
    if cancel is not None:
        cancel.raise_if_cancelled()

    # The field every other working voxel: control points lie 40 mm apart or more, so
    # trilinear interpolation between samples 4 mm apart loses nothing that matters.
    every = (slice(None, None, 2),) * 3
    distance = outside_distance[every]
    field_geometry = Geometry(
        distance.shape,
        domain_geometry.spacing_mm * 2.0,
        domain_geometry.origin_lps_mm,
        domain_geometry.direction,
    )
    displacement = sitk.TransformToDisplacementField(
        bspline,
        sitk.sitkVectorFloat64,
        field_geometry.size_ijk,
        tuple(float(v) for v in field_geometry.origin_lps_mm),
        tuple(float(v) for v in field_geometry.spacing_mm),
        tuple(float(v) for v in field_geometry.direction.reshape(-1)),
    )
    vectors = sitk.GetArrayFromImage(displacement)
    # Full displacement near the organ, fading to none at the domain's border.
    span = ORGAN_TAPER_MM - ORGAN_METRIC_MARGIN_MM
    fade = np.clip((distance - ORGAN_METRIC_MARGIN_MM) / span, 0.0, 1.0)
    weight = np.cos(0.5 * np.pi * fade) ** 2
    # Where the organ reaches the edge of the CT the domain is cut there, and the
    # samples end up to a working voxel short of the last slice: the field is extended
    # by its edge values (zero where it has faded out), so that the organ's last slices
    # move with it instead of falling back to the rigid transform.
    pad = _FIELD_PAD_SAMPLES
    vectors = np.pad(vectors * weight[..., np.newaxis], ((pad, pad),) * 3 + ((0, 0),), "edge")
    padded_geometry = Geometry(
        tuple(n + 2 * pad for n in field_geometry.shape),
        field_geometry.spacing_mm,
        field_geometry.index_to_lps(np.full((1, 3), -float(pad)))[0],
        field_geometry.direction,
    )
    return DisplacementField(padded_geometry, vectors)


def _sampling(
    mask_voxels: int, shrinks: Sequence[int], *, samples: int = _METRIC_SAMPLES
) -> list[float]:
    """Sampling share per level: ``samples`` in the mask at full resolution, a third of
    them on coarser levels (which only need to find the way).

    ITK draws the share over the whole image and keeps the samples inside the mask.
    """
    return [
        float(min(1.0, samples * (1.0 if shrink == 1 else 1 / 3) * shrink**3
                  / max(mask_voxels, 1)))
        for shrink in shrinks
    ]  # fmt: skip


def _execute(method: sitk.ImageRegistrationMethod, fixed: sitk.Image, moving: sitk.Image) -> None:
    try:
        method.Execute(fixed, moving)
    except RuntimeError as error:
        # ITK stops when too few samples fall on the moving image: the images do not overlap.
        raise RegistrationError(
            "The follow-up CT could not be registered to the planning CT (the images barely "
            f"overlap: {str(error).strip().splitlines()[-1][:160]}); check that both show the "
            f"same region, or register with {FIDUCIAL_OPTION}."
        ) from None


def _box(mask: NDArray[np.bool_], geometry: Geometry, margin_mm: float) -> tuple[slice, ...]:
    """Index box of a mask grown by ``margin_mm`` and one voxel, inside the grid."""
    nonzero = np.argwhere(mask)
    pad = np.ceil(margin_mm / np.asarray(geometry.spacing_kji_mm)).astype(int) + 1
    start = np.maximum(nonzero.min(axis=0) - pad, 0)
    stop = np.minimum(nonzero.max(axis=0) + pad + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))


def _within(mask: NDArray[np.bool_], geometry: Geometry, distance_mm: float) -> NDArray[np.bool_]:
    """Voxels within ``distance_mm`` of a mask (distances computed in its box only)."""
    if not mask.any():
        return mask
    region = _box(mask, geometry, distance_mm)
    near = np.zeros_like(mask)
    distance = ndimage.distance_transform_edt(~mask[region], sampling=geometry.spacing_kji_mm)
    near[region] = distance <= distance_mm
    return near


def _no_metal_mask(follow_up: Volume, moving: sitk.Image) -> sitk.Image | None:
    """Where the working follow-up image holds no metal nor its nearest voxels; ``None``
    when it holds no metal."""
    metal = np.asarray(follow_up.voxels) > METAL_THRESHOLD_HU
    if not metal.any():
        return None
    working = geometry_from_sitk(moving)
    near = ndimage.binary_dilation(
        _mask_on(metal, follow_up.geometry, working, threshold=0.01), iterations=1
    )
    return array_to_sitk((~near).astype(np.uint8), working)


def _mask_on(
    mask: NDArray[np.bool_], source: Geometry, target: Geometry, *, threshold: float = 0.5
) -> NDArray[np.bool_]:
    """A mask moved onto another grid of the same frame (partial volume over ``threshold``)."""
    image = array_to_sitk(mask.astype(np.float32), source)
    reference = array_to_sitk(np.zeros(target.shape, dtype=np.uint8), target)
    # Averaging bins first, so that a fine mask is not sampled at a few points only.
    factors = [
        max(1, round(t / s)) for t, s in zip(target.spacing_mm, source.spacing_mm, strict=True)
    ]
    if max(factors) > 1:
        image = sitk.BinShrink(image, factors)
    resampled = sitk.Resample(
        image, reference, sitk.Transform(3, sitk.sitkIdentity), sitk.sitkLinear, 0.0
    )
    return sitk.GetArrayFromImage(resampled) >= threshold


def _matrix_of(transform: sitk.Transform) -> NDArray[np.float64]:
    """4x4 matrix of a SimpleITK rigid or affine transform (rotation about its centre)."""
    rotation = np.asarray(transform.GetMatrix(), dtype=np.float64).reshape(3, 3)
    center = np.asarray(transform.GetCenter(), dtype=np.float64)
    translation = np.asarray(transform.GetTranslation(), dtype=np.float64)
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation + center - rotation @ center
    return matrix


# -- quality -----------------------------------------------------------------------------
def assess_registration(
    registration: Registration,
    planning: Volume,
    follow_up: Volume,
    organ_mask: NDArray[np.bool_] | None,
    target_mask: NDArray[np.bool_] | None,
    landmarks: NDArray[np.float64] | None,
    *,
    fre_mm: float | None = None,
) -> RegistrationQuality:
    """How well ``registration`` maps the planning CT onto the follow-up CT, with a verdict.

    Parameters
    ----------
    registration : Registration
    planning, follow_up : Volume
    organ_mask : ndarray of bool or None
        The organ whose surface is looked for again (planning grid); the body outline
        when ``None``.
    target_mask : ndarray of bool or None
        The tumor: its surroundings are left out (ice, probes and the zone change them).
    landmarks : ndarray, shape (n, 2, 3), or None
        Point pairs (planning, follow-up, LPS mm) for a target registration error.
    fre_mm : float, optional
        Fiducial registration error of a point-pair fit.

    Returns
    -------
    RegistrationQuality
        ``ok``, ``warning`` or ``refused``, with the figures and what to do.
    """
    surface_name = "organ" if organ_mask is not None else "body"
    mask = organ_mask
    if mask is None:
        try:
            mask = body_mask_from_ct(planning)
        except SegmentationError:
            mask = None
    surface = (
        None
        if mask is None
        else surface_offsets_mm(registration, planning, follow_up, mask, exclude_near=target_mask)
    )
    tre = None
    if landmarks is not None:
        errors = np.linalg.norm(
            registration.planning_to_follow_up_lps(landmarks[:, 0]) - landmarks[:, 1], axis=1
        )
        tre = (float(errors.mean()), float(errors.max()))
    verdict: Verdict = "ok"
    reasons: list[str] = []
    figures: list[str] = []

    def worsen(level: Verdict, reason: str) -> None:
        nonlocal verdict
        order = ("ok", "warning", "refused")
        if order.index(level) > order.index(verdict):
            verdict = level
        reasons.append(reason)

    median = p90 = matched = None
    if surface is not None:
        offsets, matched = surface
        if matched < MIN_MATCHED_FRACTION or offsets.size < 10:
            worsen(
                "refused",
                f"only {100 * matched:.0f} % of the {surface_name} surface was found again on "
                "the follow-up CT (different region or patient?)",
            )
        if offsets.size:
            median = float(np.median(offsets))
            p90 = float(np.percentile(offsets, 90))
            figures.append(f"{surface_name} surface distance {median:.1f} mm (90 %: {p90:.1f} mm)")
            if median > SURFACE_REFUSAL_MM:
                worsen(
                    "refused", f"{surface_name} surface distance above {SURFACE_REFUSAL_MM:g} mm"
                )
            elif median > SURFACE_WARNING_MM:
                worsen(
                    "warning", f"{surface_name} surface distance above {SURFACE_WARNING_MM:g} mm"
                )
            elif registration.method == "rigid" and median > RIGID_SURFACE_WARNING_MM:
                worsen(
                    "warning",
                    f"after a rigid fit the {surface_name} surface is still {median:.1f} mm off: "
                    "it deformed or slid, and sliding along the surface is not in this figure, "
                    "so points inside may be further off",
                )
    else:
        worsen("warning", "surface distance not assessed (no body or organ outline found)")
    for name, value in (("target registration error", tre and tre[0]), ("fiducial error", fre_mm)):
        if value is None:
            continue
        figures.append(f"{name} {value:.1f} mm")
        if value > POINT_REFUSAL_MM:
            worsen("refused", f"{name} above {POINT_REFUSAL_MM:g} mm")
        elif value > POINT_WARNING_MM:
            worsen("warning", f"{name} above {POINT_WARNING_MM:g} mm")
    described = "; ".join(figures) if figures else "no quality figure"
    method = {"rigid": "Rigid", "deformable": "Deformable", "fiducials": "Fiducial"}[
        registration.method
    ]
    if verdict == "ok":
        message = f"{method} registration ok: {described}."
    elif verdict == "warning":
        message = (
            f"{method} registration usable with care: {described} ({'; '.join(reasons)}); "
            f"check the overlay, or register with {FIDUCIAL_OPTION}."
        )
    else:
        message = (
            f"{method} registration refused: {described} ({'; '.join(reasons)}); "
            f"register with {FIDUCIAL_OPTION} or check that the follow-up CT shows the planned "
            "region of the same patient."
        )
    return RegistrationQuality(
        verdict=verdict,
        message=message,
        surface=surface_name,
        surface_distance_mm=median,
        surface_distance_p90_mm=p90,
        matched_fraction=matched,
        tre_mm=None if tre is None else tre[0],
        tre_max_mm=None if tre is None else tre[1],
        fre_mm=fre_mm,
        landmarks=0 if landmarks is None else len(landmarks),
    )


def surface_offsets_mm(
    registration: Registration,
    planning: Volume,
    follow_up: Volume,
    mask: NDArray[np.bool_],
    *,
    exclude_near: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.float64], float]:
    """Distances between a planning surface and the same edge on the registered follow-up CT.

    Along the normal of up to 800 points of the mask's surface, the intensity
    profile of the planning CT is compared with that of the follow-up CT at the
    registered positions; the shift that best aligns their gradients (within
    8 mm) is the local surface distance. Points without a clear edge on the
    planning CT are left out.

    Returns
    -------
    offsets_mm : ndarray
        Absolute shift of every matched point.
    matched_fraction : float
        Share of the edge points whose edge was found again (0 when none had an edge).
    """
    points, normals = _surface_points(mask, planning.geometry)
    if exclude_near is not None and len(points):
        target = planning.geometry.index_to_lps(np.argwhere(exclude_near)[:, ::-1].astype(float))
        distance, _ = cKDTree(target).query(points, distance_upper_bound=TARGET_EXCLUSION_MM)
        far = ~np.isfinite(distance)
        points, normals = points[far], normals[far]
    if len(points) == 0:
        return np.zeros(0), 0.0
    steps = np.arange(-_PROFILE_HALF_MM, _PROFILE_HALF_MM + 1e-9, _PROFILE_STEP_MM)
    samples = (
        points[:, np.newaxis, :] + steps[np.newaxis, :, np.newaxis] * normals[:, np.newaxis, :]
    )
    flat = samples.reshape(-1, 3)
    planning_profiles = _sample(planning, flat).reshape(len(points), len(steps))
    follow_profiles = _sample(follow_up, registration.planning_to_follow_up_lps(flat)).reshape(
        len(points), len(steps)
    )
    planning_gradient = np.gradient(
        ndimage.gaussian_filter1d(planning_profiles, 1.5, axis=1), _PROFILE_STEP_MM, axis=1
    )
    follow_gradient = np.gradient(
        ndimage.gaussian_filter1d(follow_profiles, 1.5, axis=1), _PROFILE_STEP_MM, axis=1
    )
    centre = len(steps) // 2
    near = slice(centre - int(2.0 / _PROFILE_STEP_MM), centre + int(2.0 / _PROFILE_STEP_MM) + 1)
    has_edge = np.abs(planning_gradient[:, near]).max(axis=1) >= _PROFILE_MIN_EDGE_HU_PER_MM
    if not has_edge.any():
        return np.zeros(0), 0.0
    max_lag = round(_PROFILE_MAX_OFFSET_MM / _PROFILE_STEP_MM)
    window = slice(max_lag, len(steps) - max_lag)
    reference = planning_gradient[has_edge, window]
    reference = reference - reference.mean(axis=1, keepdims=True)
    reference_norm = np.linalg.norm(reference, axis=1)
    candidates = follow_gradient[has_edge]
    scores = np.empty((len(reference), 2 * max_lag + 1))
    for index, lag in enumerate(range(-max_lag, max_lag + 1)):
        shifted = candidates[:, max_lag + lag : len(steps) - max_lag + lag]
        shifted = shifted - shifted.mean(axis=1, keepdims=True)
        denominator = reference_norm * np.linalg.norm(shifted, axis=1)
        scores[:, index] = (reference * shifted).sum(axis=1) / np.maximum(denominator, 1e-9)
    best = scores.argmax(axis=1)
    best_score = scores[np.arange(len(best)), best]
    matched = best_score >= _PROFILE_MIN_CORRELATION
    # Sub-step refinement by a parabola through the best score and its neighbours.
    inner = (best > 0) & (best < scores.shape[1] - 1)
    shift = best.astype(np.float64)
    rows = np.nonzero(inner)[0]
    left = scores[rows, best[rows] - 1]
    middle = scores[rows, best[rows]]
    right = scores[rows, best[rows] + 1]
    curvature = left - 2 * middle + right
    safe = np.abs(curvature) > 1e-9
    shift[rows[safe]] += 0.5 * (left[safe] - right[safe]) / curvature[safe]
    offsets = np.abs((shift - max_lag) * _PROFILE_STEP_MM)
    return offsets[matched], float(matched.mean())


def _surface_points(
    mask: NDArray[np.bool_], geometry: Geometry
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Up to ``_PROFILE_POINTS`` surface points of a mask and their outward normals (LPS)."""
    nonzero = np.argwhere(mask)
    if len(nonzero) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    pad = 4
    start = np.maximum(nonzero.min(axis=0) - pad, 0)
    stop = np.minimum(nonzero.max(axis=0) + pad + 1, mask.shape)
    region = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    crop = mask[region]
    boundary = crop & ~ndimage.binary_erosion(crop)
    spacing_kji = np.asarray(geometry.spacing_kji_mm)
    smooth = ndimage.gaussian_filter(crop.astype(np.float32), 2.0 / spacing_kji)
    indices = np.argwhere(boundary)
    rng = np.random.default_rng(_SAMPLING_SEED)
    if len(indices) > _PROFILE_POINTS:
        indices = indices[np.sort(rng.choice(len(indices), _PROFILE_POINTS, replace=False))]
    gradient_kji = (
        np.stack([np.gradient(smooth, axis=axis)[tuple(indices.T)] for axis in range(3)], axis=1)
        / spacing_kji
    )
    # Gradient in i, j, k then into LPS (the mask rises inward, so the normal is minus it).
    gradient_ijk_mm = gradient_kji[:, ::-1]
    normals = -(gradient_ijk_mm @ geometry.direction.T)
    lengths = np.linalg.norm(normals, axis=1)
    keep = lengths > 1e-6
    normals = normals[keep] / lengths[keep, np.newaxis]
    points = geometry.index_to_lps((indices[keep] + start)[:, ::-1].astype(np.float64))
    return points, normals


def _sample(volume: Volume, points_lps: NDArray[np.float64]) -> NDArray[np.float64]:
    ijk = volume.geometry.lps_to_index(points_lps)
    return ndimage.map_coordinates(
        np.asarray(volume.voxels, dtype=np.float32),
        ijk[:, ::-1].T,
        order=1,
        mode="nearest",
    )


# -- small helpers -----------------------------------------------------------------------
def _score(quality: RegistrationQuality) -> float:
    """A figure to compare two registrations of the same pair (lower is better)."""
    values = [v for v in (quality.surface_distance_mm, quality.tre_mm) if v is not None]
    return sum(values) if values else 0.0


def _finished(
    registration: Registration,
    quality: RegistrationQuality,
    warnings: Sequence[str],
    started: float,
) -> Registration:
    return Registration(
        method=registration.method,
        quality=quality,
        planning_geometry=registration.planning_geometry,
        rigid_matrix=registration.rigid_matrix,
        deformation=registration.deformation,
        warnings=tuple(warnings),
        wall_s=time.perf_counter() - started,
    )


def _pairs(value: ArrayLike, name: str, *, minimum: int) -> NDArray[np.float64]:
    try:
        pairs = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        pairs = np.zeros((0,))
    if pairs.ndim != 3 or pairs.shape[1:] != (2, 3) or not np.all(np.isfinite(pairs)):
        raise InvalidParameterError(
            f"{name} must be pairs of points (planning LPS mm, follow-up LPS mm), shape (n, 2, 3)."
        )
    if len(pairs) < minimum:
        raise InvalidParameterError(
            f"{name}: give at least {minimum} point pairs (planning and follow-up), "
            f"got {len(pairs)}."
        )
    return pairs


def _points(value: ArrayLike) -> tuple[NDArray[np.float64], bool]:
    points = np.asarray(value, dtype=np.float64)
    single = points.ndim == 1
    points = points.reshape(-1, 3) if points.size else np.zeros((0, 3))
    if not np.all(np.isfinite(points)):
        raise InvalidParameterError("points must be finite LPS coordinates in mm.")
    return points, single


def _apply(matrix: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64]:
    return points @ matrix[:3, :3].T + matrix[:3, 3]


__all__ = [
    "FIDUCIAL_OPTION",
    "DisplacementField",
    "Registration",
    "RegistrationMethod",
    "RegistrationQuality",
    "Verdict",
    "fit_rigid",
    "register_follow_up",
    "surface_offsets_mm",
    "target_organ_mask",
]
