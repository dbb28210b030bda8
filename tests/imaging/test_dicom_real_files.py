"""The loader on DICOM files written by scanners and other projects (../shared/dicom)."""

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom import scan_dicom
from planning_core.imaging.loader import load_image

pytestmark = pytest.mark.shared_dicom


def _hu(path):
    """Reference HU of a single-frame file, computed by pydicom alone."""
    ds = pydicom.dcmread(path)
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


# -- a real patient CT
def test_tcia_pancreas_ct_matches_simpleitk_and_lists_the_text_files(shared_dicom):
    folder = shared_dicom / "tcia-pancreas-ct"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reference = reader.Execute()

    catalog = scan_dicom(folder)
    volume = load_image(folder)

    assert sorted((s.path.name, s.reason) for s in catalog.skipped) == [
        ("Citations", "not a DICOM file"),
        ("LICENSE", "not a DICOM file"),
    ]
    assert volume.shape == (134, 512, 512)
    assert volume.voxels.dtype == np.int16
    assert volume.warnings == ()
    np.testing.assert_array_equal(volume.voxels, sitk.GetArrayViewFromImage(reference))
    np.testing.assert_allclose(volume.geometry.origin_lps_mm, reference.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(volume.geometry.spacing_mm, reference.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(
        volume.geometry.direction.ravel(), reference.GetDirection(), atol=1e-4
    )
    assert volume.metadata["rescale"] == {"slope": 1.0, "intercept": -1000.0, "type": "HU"}


# -- gantry tilt with irregular increments
def test_ge_gantry_tilt_and_irregular_increments_are_detected(shared_dicom):
    folder = shared_dicom / "gantry-tilt-ct" / "GE"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    naive = reader.Execute()

    volume = load_image(folder)

    # SimpleITK returns one even spacing and no shear for this series.
    assert naive.GetSpacing()[2] == pytest.approx(5.63, abs=0.01)
    tilt, spacing = (
        next(w for w in volume.warnings if key in w) for key in ("gantry tilt", "not uniform")
    )
    assert "tilt 18.50°" in tilt and "GantryDetectorTilt +18.50°" in tilt
    assert "1.081 mm between instance 14 (14.dcm) and instance 15 (15.dcm)" in spacing
    assert "4.002 mm × 13" in spacing and "6.999 mm × 13" in spacing
    geometry = volume.geometry
    assert geometry.spacing_mm[2] <= 4.002 + 1e-3
    first = pydicom.dcmread(folder / "01.dcm")
    last = pydicom.dcmread(folder / "28.dcm", stop_before_pixels=True)
    i0, j0, k0 = np.rint(geometry.lps_to_index(first.ImagePositionPatient)).astype(int)
    k_last = geometry.lps_to_index(last.ImagePositionPatient)[2]
    assert k0 == 0 and k_last == pytest.approx(geometry.shape[0] - 1, abs=1e-6)
    np.testing.assert_allclose(
        volume.voxels[0, j0 : j0 + 512, i0 : i0 + 512], _hu(folder / "01.dcm"), atol=1e-3
    )


def test_ge_gantry_tilt_is_refused_in_strict_mode(shared_dicom):
    with pytest.raises(DicomLoadError, match=r"refused in strict mode.*gantry tilt"):
        load_image(shared_dicom / "gantry-tilt-ct" / "GE", strict=True)


# -- transfer syntaxes
LOSSLESS = [
    "LittleEndianImplicitTransferSyntax_1.2.840.10008.1.2",
    "LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1",
    "BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2",
    "DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99",
    "JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57",
    "JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70",
    "JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80",
    "JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90",
    "RLELosslessTransferSyntax_1.2.840.10008.1.2.5",
]
# Mean |error| bound in HU, set by each syntax's quantisation: near-lossless J2K/JPEG-LS
# keep errors of about 1 HU; 12-bit JPEG stores HU/2 (slope 2.0); the 8-bit baseline file
# stores HU/32.1, so one quantisation step is 32 HU.
LOSSY = {
    "JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91": 1.0,
    "JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81": 1.0,
    "JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51": 5.0,
    "JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53": 5.0,
    "JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55": 5.0,
    "JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50": 25.0,
}


@pytest.mark.parametrize("syntax", LOSSLESS)
def test_lossless_syntaxes_give_exactly_the_reference_hu(shared_dicom, syntax):
    folder = shared_dicom / "transfer-syntaxes"

    volume = load_image(folder / f"CTImage.dcm_{syntax}.dcm")

    np.testing.assert_array_equal(volume.voxels[0], _hu(folder / "CTImage.dcm"))


@pytest.mark.parametrize(("syntax", "mean_error_hu"), LOSSY.items())
def test_lossy_syntaxes_stay_within_their_quantisation(shared_dicom, syntax, mean_error_hu):
    folder = shared_dicom / "transfer-syntaxes"
    reference = _hu(folder / "CTImage.dcm")

    volume = load_image(folder / f"CTImage.dcm_{syntax}.dcm")

    error = volume.voxels[0].astype(np.float64) - reference
    assert np.mean(np.abs(error)) < mean_error_hu
    assert abs(np.mean(error)) < mean_error_hu  # no offset: slope and intercept applied
    assert any("lossy-compressed" in w for w in volume.warnings)


def test_jpeg_baseline_applies_its_rescale_slope_of_32(shared_dicom):
    path = (
        shared_dicom
        / "transfer-syntaxes"
        / "CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm"
    )

    volume = load_image(path)

    assert volume.metadata["rescale"]["slope"] == pytest.approx(32.1216)
    assert volume.voxels.dtype == np.float32
    assert volume.voxels.min() < -3000 and volume.voxels.max() > 1300


def test_transfer_syntax_folder_collapses_copies_and_names_the_clash(shared_dicom):
    catalog = scan_dicom(shared_dicom / "transfer-syntaxes")

    copies = [s for s in catalog.skipped if s.reason.startswith("another copy of")]
    assert len(copies) == 9  # the lossless re-encodings keep the reference's SOPInstanceUID
    helical = next(s for s in catalog.series if s.description == "HELICAL CHEST")
    assert "share a slice position" in helical.error
    reasons = {s.path.name: s.reason for s in catalog.skipped}
    assert reasons["no-pixel-data.dcm"] == "Basic Text SR Storage has no pixel data (not an image)"


def test_enhanced_ct_with_fragmented_jpeg_frames(shared_dicom):
    path = shared_dicom / "transfer-syntaxes" / "CT0012.fragmented_no_bot_jpeg_baseline.51.dcm"
    frames = pydicom.dcmread(path).pixel_array.astype(np.int32) - 1024

    volume = load_image(path)

    assert volume.shape == (2, 512, 512)
    np.testing.assert_array_equal(
        volume.voxels[0], frames[1]
    )  # frame 2 lies lower along the normal
    np.testing.assert_array_equal(volume.voxels[1], frames[0])


def test_ultrasound_without_pixel_spacing_is_calibrated_by_its_regions(shared_dicom):
    volume = load_image(shared_dicom / "transfer-syntaxes" / "no-pixel-spacing.dcm")

    # Its two Doppler strips (spatial format 4) are not 2-D tissue regions and are ignored.
    np.testing.assert_allclose(volume.geometry.spacing_mm[:2], 0.3305420890260027, rtol=1e-9)
    assert not any("pixels were assumed" in w for w in volume.warnings)


def test_ybr_full_422_ultrasound_becomes_grey(shared_dicom):
    volume = load_image(shared_dicom / "transfer-syntaxes" / "US-YBR_FULL_422-EVRLE.dcm")

    assert volume.shape == (1, 555, 800)
    assert volume.voxels.max() > 100
    assert any("YBR_FULL_422" in w for w in volume.warnings)


# -- pydicom test files
def test_non_image_objects_are_listed_with_reasons(shared_dicom):
    catalog = scan_dicom(shared_dicom / "pydicom")

    reasons = {s.path.name: s.reason for s in catalog.skipped}
    assert reasons["rtstruct.dcm"] == "RT Structure Set Storage has no pixel data (not an image)"
    assert reasons["rtplan.dcm"] == "RT Plan Storage has no pixel data (not an image)"
    assert reasons["rtdose.dcm"] == "RT Dose grid, not an anatomical image"
    assert reasons["test-SR.dcm"] == "Comprehensive SR Storage has no pixel data (not an image)"
    assert (
        reasons["waveform_ecg.dcm"]
        == "12-lead ECG Waveform Storage has no pixel data (not an image)"
    )
    assert "segmentation" in reasons["liver_1frame.dcm"]
    assert reasons["DICOMDIR"].startswith("DICOMDIR index file")


def test_file_without_meta_is_read_leniently(shared_dicom):
    folder = shared_dicom / "pydicom"

    lenient = load_image(folder / "no_meta.dcm")

    reference = load_image(folder / "CT_small.dcm")
    np.testing.assert_array_equal(lenient.voxels, reference.voxels)
    assert lenient.geometry.matches(reference.geometry)
    assert any("read leniently" in w for w in lenient.warnings)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ],
)
def test_mr_in_other_syntaxes_equals_the_uncompressed_file(shared_dicom, name):
    folder = shared_dicom / "pydicom"

    np.testing.assert_array_equal(
        load_image(folder / name).voxels, load_image(folder / "MR_small.dcm").voxels
    )


def test_dicomdir_lists_the_same_series_as_walking_the_folder(shared_dicom):
    folder = shared_dicom / "pydicom" / "dicomdirtests"

    indexed = scan_dicom(folder / "DICOMDIR")
    walked = scan_dicom(folder)

    def summary(catalog):
        return sorted((s.series_uid, s.frame_count) for s in catalog.series)

    assert summary(indexed) == summary(walked)
    assert len(indexed.series) >= 10
    assert {s.reason for s in walked.skipped if s.path.name.startswith("DICOMDIR")} == {
        "DICOMDIR index file (the image files it lists are read directly)"
    }


# -- pydicom-data: enhanced multi-frame and ultrasound
def test_enhanced_ct_geometry_from_functional_groups(shared_dicom):
    path = shared_dicom / "pydicom-data" / "eCT_Supplemental.dcm"
    frames = pydicom.dcmread(path).pixel_array.astype(np.int32) - 1024

    volume = load_image(path)

    np.testing.assert_allclose(volume.geometry.origin_lps_mm, (99.5, -301.5, -149.0), atol=1e-4)
    np.testing.assert_allclose(volume.geometry.spacing_mm, (0.388672, 0.388672, 10.0), atol=1e-4)
    np.testing.assert_allclose(volume.geometry.direction, np.diag([-1.0, 1.0, -1.0]), atol=1e-9)
    np.testing.assert_array_equal(volume.voxels[0], frames[1])


def test_enhanced_mr_is_identical_in_its_four_syntaxes(shared_dicom):
    folder = shared_dicom / "pydicom-data"
    names = [
        "emri_small.dcm",
        "emri_small_RLE.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ]

    volumes = [load_image(folder / name) for name in names]

    for volume in volumes[1:]:
        np.testing.assert_array_equal(volume.voxels, volumes[0].voxels)
    assert volumes[0].shape == (10, 64, 64)
    assert any("no per-frame positions" in w for w in volumes[0].warnings)


@pytest.mark.parametrize(
    ("name", "spacing_mm", "frames"),
    [
        ("OBXXXX1A.dcm", 0.2622878766196998, 1),
        ("OBXXXX1A_rle.dcm", 0.2622878766196998, 1),
        ("OBXXXX1A_2frame.dcm", 0.2622878766196998, 2),
        ("gdcm-US-ALOKA-16.dcm", 0.3826530650258064, 1),
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", None, 1),
    ],
)
def test_ultrasound_spacing_from_regions(shared_dicom, name, spacing_mm, frames):
    path = shared_dicom / "pydicom-data" / name
    regions = pydicom.dcmread(path, stop_before_pixels=True).SequenceOfUltrasoundRegions
    expected = spacing_mm or float(regions[0].PhysicalDeltaX) * 10.0

    volume = load_image(path)

    assert volume.modality == "US"
    assert volume.shape[0] == frames
    np.testing.assert_allclose(volume.geometry.spacing_mm[:2], expected, rtol=1e-9)


def test_rle_ultrasound_equals_the_uncompressed_file(shared_dicom):
    folder = shared_dicom / "pydicom-data"

    np.testing.assert_array_equal(
        load_image(folder / "OBXXXX1A_rle.dcm").voxels, load_image(folder / "OBXXXX1A.dcm").voxels
    )


def test_jpeg2000_colour_ultrasound_equals_the_uncompressed_rgb(shared_dicom):
    folder = shared_dicom / "pydicom-data"

    compressed = load_image(folder / "US1_J2KR.dcm").voxels
    plain = load_image(folder / "US1_UNCR.dcm").voxels

    np.testing.assert_allclose(compressed, plain, atol=1e-3)


# -- dcmqi: a real CT next to DICOM SEG objects
def test_dcmqi_ct_loads_and_its_segmentations_are_skipped(shared_dicom):
    folder = shared_dicom / "dcmqi" / "data" / "segmentations"

    catalog = scan_dicom(folder)
    volume = load_image(folder)

    assert volume.shape == (3, 512, 512)
    assert volume.geometry.spacing_mm[2] == pytest.approx(1.0, abs=1e-4)
    reasons = {s.path.name: s.reason for s in catalog.skipped}
    assert set(reasons) == {"liver.dcm", "partial_overlaps.dcm", "sparse-labelmap-ppv5.dcm"}
    assert all("segmentation" in r for r in reasons.values())
