"""The heterogeneous-lesion sample cases (issue 16): content, diameter line, revisions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cryoplan_samples import ensure_sample_case, generate_sample_case
from cryoplan_samples.cases import MANIFEST_NAME
from scipy import ndimage
from scipy.spatial.distance import pdist

from planning_core.imaging.loader import load_image

HETEROGENEOUS = ("liver-metastasis", "kidney-cystic", "lung-part-solid")


@pytest.fixture(scope="module")
def loaded(generated_cases):
    """name -> (HU, labels) of the heterogeneous cases."""
    result = {}
    for name in HETEROGENEOUS:
        case = generated_cases[name]
        volume = load_image(case.image_path)
        result[name] = (volume.voxels, case.load_labels(reference=volume.geometry))
    return result


def _outer_layer(mask: np.ndarray) -> np.ndarray:
    """Voxels one to two voxels inside the mask's edge."""
    return ndimage.binary_erosion(mask) & ~ndimage.binary_erosion(mask, iterations=3)


def _interior(mask: np.ndarray, voxels: int = 2) -> np.ndarray:
    return ndimage.binary_erosion(mask, iterations=voxels)


def test_liver_metastasis_has_necrosis_rim_and_calcifications(loaded):
    hu, labels = loaded["liver-metastasis"]
    tumor = labels.mask("tumor")
    assert 70.0 <= labels.volume_ml("tumor") <= 95.0  # "about 80 mL"
    values = hu[tumor]
    assert np.mean(values < 40.0) >= 0.08  # a necrotic core (fluid-like, far below the liver)
    assert np.sum(values > 300.0) >= 5  # calcifications, blurred by partial volume
    liver = float(np.median(hu[_interior(labels.mask("liver"))]))
    assert np.median(hu[_outer_layer(tumor)]) >= liver + 5.0  # a rim brighter than the liver
    assert np.median(values) <= liver - 15.0  # yet the lesion as a whole is hypodense


def test_cystic_renal_mass_is_fluid_with_an_enhancing_nodule_and_bulges_into_fat(loaded):
    hu, labels = loaded["kidney-cystic"]
    tumor = labels.mask("tumor")
    core = _interior(tumor, 3)
    assert 0.0 <= np.percentile(hu[core], 40) <= 15.0  # simple-fluid content
    nodule = tumor & (hu > 90.0)
    assert nodule.sum() * labels.geometry.voxel_volume_mm3 >= 150.0  # an enhancing part
    shell = ndimage.binary_dilation(tumor) & ~tumor
    around = labels.voxels[shell]
    assert np.mean(around == labels.info("fat").value) >= 0.4  # exophytic
    assert np.mean(around == labels.info("kidney").value) >= 0.15  # yet arising from the kidney


def test_part_solid_nodule_has_ground_glass_around_a_solid_core(loaded):
    hu, labels = loaded["lung-part-solid"]
    tumor = labels.mask("tumor")
    assert -700.0 <= np.median(hu[tumor]) <= -500.0
    solid, count = ndimage.label(tumor & (hu > -100.0))
    sizes = np.bincount(solid.ravel())[1:] if count else np.zeros(1)
    solid_ml = sizes.max() * labels.geometry.voxel_volume_mm3 / 1000.0
    assert 0.2 <= solid_ml <= 0.35 * labels.volume_ml("tumor")  # a core, not the whole nodule
    # Ground glass all around: the outer layer is neither solid nor aerated lung.
    outer = hu[_outer_layer(tumor)]
    assert np.median(outer) < -450.0 and np.median(outer) > -800.0


@pytest.mark.parametrize("name", HETEROGENEOUS)
def test_lesions_are_irregular_not_ellipsoids(loaded, name):
    """Lobes and dents: the lesion differs from its moment-matched ellipsoid."""
    _, labels = loaded[name]
    tumor = labels.mask("tumor")
    geometry = labels.geometry
    kji = np.argwhere(tumor)
    points = geometry.index_to_lps(kji[:, ::-1].astype(np.float64))
    centre = points.mean(axis=0)
    covariance = np.cov((points - centre).T)
    # A solid ellipsoid with semi-axes a has covariance a^2 / 5 along its axes.
    values, vectors = np.linalg.eigh(covariance)
    semi = np.sqrt(5.0 * values)
    box = tuple(slice(max(a - 3, 0), b + 4) for a, b in zip(kji.min(0), kji.max(0), strict=True))
    grid = np.argwhere(np.ones(tumor[box].shape, dtype=bool)) + [s.start for s in box]
    local = (geometry.index_to_lps(grid[:, ::-1].astype(np.float64)) - centre) @ vectors
    ellipsoid = (((local / semi) ** 2).sum(axis=1) <= 1.0).reshape(tumor[box].shape)
    overlap = 2.0 * np.sum(ellipsoid & tumor[box]) / (ellipsoid.sum() + tumor[box].sum())
    assert overlap < 0.97, overlap


@pytest.mark.parametrize("name", HETEROGENEOUS)
def test_manifest_diameter_line_is_the_longest_axial_extent(generated_cases, loaded, name):
    _, labels = loaded[name]
    tumor = labels.mask("tumor")
    geometry = labels.geometry
    line = generated_cases[name].manifest["tumor"]["diameter_line"]
    start, end = np.asarray(line["start_lps_mm"]), np.asarray(line["end_lps_mm"])
    k = line["slice_index"]
    for point in (start, end):
        i, j, k_point = geometry.lps_to_nearest_index(point)
        assert k_point == k and tumor[k, j, i]
    assert np.linalg.norm(end - start) == pytest.approx(line["length_mm"], abs=0.01)
    # Independently: the largest distance between edge voxels of any one axial slice.
    longest = 0.0
    for slice_k in np.nonzero(tumor.any(axis=(1, 2)))[0]:
        section = tumor[slice_k]
        edge = np.argwhere(section & ~ndimage.binary_erosion(section))
        if len(edge) >= 2:
            xy = edge[:, ::-1] * np.asarray(geometry.spacing_mm[:2])
            longest = max(longest, float(pdist(xy).max()))
    assert line["length_mm"] == pytest.approx(longest, abs=0.01)
    assert 0.7 * generated_cases[name].manifest["tumor"]["diameter_mm"] <= longest


def test_compact_cases_keep_their_manifests_without_revision(generated_cases):
    """The cases made before revisions keep their bytes: no new manifest keys.

    The kidney left that group when its planning CT became prone (revision 1).
    """
    assert generated_cases["kidney"].manifest["case_revision"] >= 1
    for name in ("liver", "lung", "breast"):
        manifest = generated_cases[name].manifest
        assert "case_revision" not in manifest and "diameter_line" not in manifest["tumor"]
    for name in HETEROGENEOUS:
        assert generated_cases[name].manifest["case_revision"] >= 1


def test_a_cached_case_of_an_older_revision_is_regenerated(tmp_path):
    case = generate_sample_case("kidney-cystic", tmp_path / "kidney-cystic")
    path = case.directory / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    current = manifest["case_revision"]
    manifest["case_revision"] = current - 1
    manifest["tumor"]["volume_ml"] = -1.0  # marks the stale copy
    path.write_text(json.dumps(manifest))
    fresh = ensure_sample_case("kidney-cystic", root=tmp_path)
    assert fresh.manifest["case_revision"] == current
    assert fresh.manifest["tumor"]["volume_ml"] > 0.0
