"""Hostile or damaged header values: never a silently wrong image, a traceback or a huge allocation.

Each test builds a small stack with tests/imaging/dicom_factory.py and damages
one value the way issue 14's mutants did; the loader must skip the file, refuse
the series or warn, naming the attribute and the file.
"""

import argparse
import os
import threading
import warnings

import numpy as np
import pydicom
import pytest
from dicom_factory import image_dataset, save, ultrasound_dataset, write_stack
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from planning_core.cli import main
from planning_core.commands.info import run_info
from planning_core.errors import DicomLoadError, PlanningError
from planning_core.imaging.dicom import bounds, catalog, load_series, pixels, scan_dicom
from planning_core.imaging.dicom.headers import MEDIA_STORAGE_DIRECTORY_STORAGE, read_header
from planning_core.imaging.dicom.pixels import decode_frames, modality_values
from planning_core.imaging.loader import load_image

STORED = np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8) + 1000  # HU = stored - 1024


def _put(ds, keyword, value, vr=None):
    """Set an element to any value, even one its VR forbids (as a damaged file holds it)."""
    tag = tag_for_keyword(keyword)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds[tag] = DataElement(tag, vr or pydicom.datadict.dictionary_VR(tag), value)


def _delete(ds, keyword):
    if keyword in ds:
        del ds[keyword]


def _ct_stack(folder, edit=None, *, only=None, **kwargs):
    """Four 8×8 CT slices 1 mm apart; ``edit(ds)`` damages slice ``only`` (or every slice)."""

    def damage(ds, k):
        if edit is not None and (only is None or k == only):
            edit(ds)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns when it writes an invalid value
        return write_stack(folder, STORED, spacing_ijk=(1, 1, 1), edit=damage, **kwargs)


def _reasons(folder):
    return {s.path.name: s.reason for s in scan_dicom(folder).skipped}


def _rewrite(path, edit):
    ds = pydicom.dcmread(path)
    edit(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path)
    return path


# -- A1: rescale to HU
def test_one_ct_slice_without_rescale_intercept_is_left_out_naming_file_and_attribute(tmp_path):
    _ct_stack(tmp_path, lambda ds: _delete(ds, "RescaleIntercept"), only=1)

    volume = load_image(tmp_path)

    assert "RescaleIntercept" in _reasons(tmp_path)["slice001.dcm"]
    assert any("slice001.dcm" in w and "RescaleIntercept" in w for w in volume.warnings)
    # The slice is interpolated from its neighbours, never read 1024 HU too high.
    assert volume.shape == (4, 8, 8)
    np.testing.assert_array_equal(volume.voxels[1], (STORED[0] + STORED[2]) / 2 - 1024)
    with pytest.raises(DicomLoadError, match=r"strict mode.*slice001\.dcm"):
        load_image(tmp_path, strict=True)


def test_ct_without_any_rescale_intercept_warns_and_strict_refuses(tmp_path):
    _ct_stack(tmp_path, lambda ds: _delete(ds, "RescaleIntercept"))

    volume = load_image(tmp_path)

    assert any(
        "RescaleIntercept missing" in w and "slice000.dcm" in w and "intercept 0" in w
        for w in volume.warnings
    )
    with pytest.raises(DicomLoadError, match=r"strict mode.*RescaleIntercept"):
        load_image(tmp_path, strict=True)


@pytest.mark.parametrize(
    ("keyword", "vr", "value"),
    [
        ("RescaleIntercept", "DS", ""),
        ("RescaleIntercept", "LO", "inf"),
        ("RescaleIntercept", "LO", "-inf"),
        ("RescaleIntercept", "DS", "1e308"),
        ("RescaleIntercept", "LO", "0x10"),
        ("RescaleSlope", "LO", "abc"),
        ("RescaleSlope", "DS", "0"),
        ("RescaleSlope", "DS", "-0"),
        ("RescaleSlope", "LO", "1e999"),
    ],
)
def test_a_bad_rescale_value_on_one_slice_leaves_that_slice_out(tmp_path, keyword, vr, value):
    _ct_stack(tmp_path, lambda ds: _put(ds, keyword, value, vr), only=1)

    volume = load_image(tmp_path)  # no OverflowError, no shifted slice

    assert keyword in _reasons(tmp_path)["slice001.dcm"]
    assert volume.voxels.min() >= STORED.min() - 1024
    assert volume.voxels.max() <= STORED.max() - 1024


def test_rescale_that_differs_between_ct_slices_is_reported(tmp_path):
    _ct_stack(tmp_path, lambda ds: _put(ds, "RescaleIntercept", "-1000"), only=2)

    volume = load_image(tmp_path)

    assert volume.voxels[2, 0, 0] == STORED[2, 0, 0] - 1000  # legal: each slice its own
    assert any("differ between slices" in w and "slice002.dcm" in w for w in volume.warnings)


def test_integer_rescale_beyond_int32_is_computed_in_float_not_wrapped():
    stored = np.array([[32767, -32768]], np.int16)

    values = modality_values(stored, slope=100000, intercept=7)

    np.testing.assert_allclose(values, [[3276700007.0, -3276799993.0]], rtol=1e-6)


# -- A1: the pixel description
@pytest.mark.parametrize(
    ("keyword", "vr", "value"),
    [
        ("PixelRepresentation", None, None),
        ("PixelRepresentation", "US", 7),
        ("BitsAllocated", "LO", "abc"),
        ("BitsAllocated", None, None),
        ("BitsAllocated", "US", 12),
        ("BitsStored", "US", 2),
        ("BitsStored", "US", 17),
        ("HighBit", "US", 7),
        ("SamplesPerPixel", "US", 3),
        ("PhotometricInterpretation", "CS", "FOO"),
        ("NumberOfFrames", "IS", "0"),
        ("Rows", "US", 0),
    ],
)
def test_a_damaged_pixel_description_skips_the_file_naming_the_attribute(
    tmp_path, keyword, vr, value
):
    def damage(ds):
        ds["PixelData"].VR = "OW"  # so that pydicom writes it without BitsAllocated
        if value is None:
            _delete(ds, keyword)
        else:
            _put(ds, keyword, value, vr)

    _ct_stack(tmp_path, damage, only=1)

    reason = _reasons(tmp_path)["slice001.dcm"]

    assert keyword in reason or (keyword == "Rows" and "Rows/Columns" in reason)


def test_colour_images_may_omit_pixel_representation(tmp_path):
    ds = ultrasound_dataset(np.zeros((8, 8, 3), np.uint8))
    del ds.PixelRepresentation
    save(ds, tmp_path / "us.dcm")

    assert scan_dicom(tmp_path).series[0].instances[0].pixel_representation == 0


def test_rows_smaller_than_the_pixel_data_is_an_error_naming_both_sizes(tmp_path):
    _ct_stack(tmp_path, lambda ds: _put(ds, "Rows", 4), only=0)

    reason = _reasons(tmp_path)["slice000.dcm"]

    assert "pixel data hold 128 bytes" in reason
    assert "4×8×1×1 at 16 bits need 64" in reason


def test_bits_set_above_bits_stored_are_reported(tmp_path):
    _ct_stack(tmp_path, lambda ds: _put(ds, "BitsStored", 10) or _put(ds, "HighBit", 9))

    volume = load_image(tmp_path)

    assert any("slice000.dcm" in w and "above BitsStored 10" in w for w in volume.warnings)


# -- A2: one bad file never stops the listing
def test_a_negative_columns_value_skips_that_file_and_the_listing_goes_on(tmp_path, capsys):
    _ct_stack(tmp_path, lambda ds: _put(ds, "Columns", -512, "SS"), only=1)

    code = run_info(argparse.Namespace(path=str(tmp_path), series=None, strict=False, json=False))

    out = capsys.readouterr().out
    assert code == 0
    assert "slice001.dcm: damaged header: Columns -512 is stored with VR SS" in out
    assert "3 frame(s) in 3 file(s)" in out


def test_errors_building_a_series_grid_name_the_series_instead_of_escaping(tmp_path, monkeypatch):
    _ct_stack(tmp_path)

    def refuse(*args, **kwargs):
        raise PlanningError("shape must be three positive sizes")

    monkeypatch.setattr(catalog, "plan_stack", refuse)

    series = scan_dicom(tmp_path).series[0]

    assert series.error == "shape must be three positive sizes"


# -- B4: positions and spacings
def test_an_absurd_position_on_one_slice_skips_it(tmp_path):
    _ct_stack(tmp_path, lambda ds: _put(ds, "ImagePositionPatient", ["0", "0", "1e300"]), only=3)

    volume = load_image(tmp_path)

    assert "ImagePositionPatient" in _reasons(tmp_path)["slice003.dcm"]
    assert volume.shape == (3, 8, 8)


def test_slices_metres_apart_are_refused_from_the_headers(tmp_path):
    _ct_stack(tmp_path, positions=[(0, 0, 30000 * k) for k in range(4)])

    series = scan_dicom(tmp_path).series[0]

    assert "3e+04 mm apart" in series.error
    with pytest.raises(DicomLoadError, match="ImagePositionPatient"):
        load_image(tmp_path)


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PixelSpacing", ["1e-6", "1e-6"]),
        ("PixelSpacing", ["0.5", "1e9"]),
        ("PixelSpacing", ["nan", "1"]),
        ("ImageOrientationPatient", ["2", "0", "0", "0", "1", "0"]),
        ("ImageOrientationPatient", ["1", "0", "0", "1", "0", "0"]),
    ],
)
def test_implausible_geometry_values_skip_the_file(tmp_path, keyword, value):
    _ct_stack(tmp_path, lambda ds: _put(ds, keyword, value), only=0)

    assert keyword in _reasons(tmp_path)["slice000.dcm"]


def test_a_tilted_stack_too_wide_for_a_grid_is_refused_before_resampling(tmp_path):
    positions = [(40.0 * k, 0.0, 0.001 * k) for k in range(4)]
    _ct_stack(tmp_path, positions=positions, edit=lambda ds: _put(ds, "PixelSpacing", [0.001] * 2))

    series = scan_dicom(tmp_path).series[0]

    assert "more than 65535 along an axis" in series.error


def test_an_implausible_slice_thickness_is_ignored_with_a_note(tmp_path):
    save(
        image_dataset(
            np.zeros((8, 8), np.int16),
            position=(0, 0, 0),
            orientation=(1, 0, 0, 0, 1, 0),
            pixel_spacing=(1, 1),
        ),
        tmp_path / "one.dcm",
    )
    _rewrite(tmp_path / "one.dcm", lambda ds: _put(ds, "SliceThickness", "1e300"))

    volume = load_image(tmp_path)

    assert volume.geometry.spacing_mm[2] == 1.0
    assert any("SliceThickness 1e+300 mm" in w for w in volume.warnings)


def test_ultrasound_regions_with_implausible_deltas_are_ignored_with_a_note(tmp_path):
    ds = ultrasound_dataset(
        np.zeros((8, 8), np.uint8),
        regions=[{"delta_x_cm": 1e6, "delta_y_cm": 0.01, "x0": 0, "y0": 0, "x1": 7, "y1": 7}],
    )
    save(ds, tmp_path / "us.dcm")

    volume = load_image(tmp_path)

    assert any("implausible pixel size" in w and "1e+06" in w for w in volume.warnings)
    np.testing.assert_array_equal(volume.geometry.spacing_mm[:2], [1.0, 1.0])


def test_enhanced_frames_disagreeing_with_number_of_frames_are_refused(tmp_path):
    from dicom_factory import enhanced_dataset

    ds = enhanced_dataset(
        np.zeros((3, 4, 4), np.int16),
        positions=[(0, 0, k) for k in range(3)],
        orientation=(1, 0, 0, 0, 1, 0),
        pixel_spacing=(1, 1),
    )
    ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:2]
    save(ds, tmp_path / "enhanced.dcm")

    reason = _reasons(tmp_path)["enhanced.dcm"]

    assert "PerFrameFunctionalGroupsSequence holds 2 items but NumberOfFrames is 3" in reason


# -- B3/B5: compressed data and allocations
def _rle_stack(folder, rows=8, columns=8):
    stored = np.arange(rows * columns, dtype=np.int16).reshape(1, rows, columns) % 2000
    return write_stack(folder, stored, spacing_ijk=(1, 1, 1), transfer_syntax=RLELossless)


def test_rle_data_longer_than_the_header_image_is_an_error_not_a_decoder_panic(tmp_path):
    (path,) = _rle_stack(tmp_path, rows=300, columns=300)
    _rewrite(path, lambda ds: (_put(ds, "Rows", 1), _put(ds, "Columns", 65535)))

    with pytest.raises(DicomLoadError, match=r"slice000\.dcm.*RLE Lossless.*Rows×Columns"):
        load_image(tmp_path)


def test_a_decoder_panic_becomes_a_load_error(tmp_path, monkeypatch):
    class PanicException(BaseException):  # what pyo3 raises: not an Exception
        pass

    def panic(*args, **kwargs):
        raise PanicException("index out of bounds")

    _rle_stack(tmp_path)
    monkeypatch.setattr(pixels, "_decode_with_pydicom", panic)

    with pytest.raises(DicomLoadError, match="decoder failed: index out of bounds"):
        load_image(tmp_path)


def test_a_compressed_file_with_columns_beyond_the_dicom_range_is_skipped(tmp_path):
    (path,) = _rle_stack(tmp_path)
    _rewrite(path, lambda ds: _put(ds, "Columns", 10**9, "UL"))

    assert "Columns 1000000000" in _reasons(tmp_path)["slice000.dcm"]


def test_allocations_beyond_the_memory_budget_are_refused_before_they_happen(tmp_path, monkeypatch):
    (path,) = _rle_stack(tmp_path)
    monkeypatch.setattr(bounds, "memory_budget_bytes", lambda: 100)

    series = scan_dicom(tmp_path).series[0]

    assert "GiB" in series.error and "this machine allows" in series.error
    with pytest.raises(DicomLoadError, match=r"slice000\.dcm.*decoded pixel data.*Columns 8"):
        decode_frames(read_header(path), name="series")


def test_truncated_compressed_pixel_data_are_found_at_scan(tmp_path):
    (path,) = _rle_stack(tmp_path, rows=64, columns=64)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])

    assert "truncated" in _reasons(tmp_path)["slice000.dcm"]


def test_a_zero_filled_file_is_skipped_without_parsing_the_zeros(tmp_path):
    (tmp_path / "sparse.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * (1 << 20))

    assert "zero-filled" in _reasons(tmp_path)["sparse.dcm"]


# -- B6: library warnings
def test_decoder_warnings_become_notes_and_are_not_printed(tmp_path, monkeypatch):
    _rle_stack(tmp_path)
    original = pixels._decode_with_pydicom

    def noisy(*args, **kwargs):
        warnings.warn(
            "Invalid value for VR DS: 'inf'. See <https://...>", UserWarning, stacklevel=1
        )
        return original(*args, **kwargs)

    monkeypatch.setattr(pixels, "_decode_with_pydicom", noisy)

    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        volume = load_image(tmp_path)

    assert escaped == []
    assert any(
        "slice000.dcm: the decoder warned: Invalid value for VR DS" in w for w in volume.warnings
    )


def test_warnings_while_scanning_become_catalog_notes(tmp_path, monkeypatch):
    _ct_stack(tmp_path)
    original = catalog.read_header

    def noisy(path):
        warnings.warn("overflow encountered in multiply", RuntimeWarning, stacklevel=1)
        return original(path)

    monkeypatch.setattr(catalog, "read_header", noisy)

    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        found = scan_dicom(tmp_path)

    assert escaped == []
    assert found.warnings == (f"{tmp_path}: overflow encountered in multiply",)


def test_a_slice_whose_bit_layout_differs_from_its_series_is_left_out(tmp_path):
    _ct_stack(tmp_path, lambda ds: _put(ds, "PixelRepresentation", 0), only=2)

    reason = _reasons(tmp_path)["slice002.dcm"]

    assert "PixelRepresentation 0 (the other 3 files: 1)" in reason


def test_files_that_are_not_regular_are_skipped_without_opening_them(tmp_path):
    _ct_stack(tmp_path)
    os.mkfifo(tmp_path / "pipe.dcm")
    found = []
    # Opening a pipe blocks for ever; a daemon thread keeps a regression from hanging the suite.
    scan = threading.Thread(target=lambda: found.append(scan_dicom(tmp_path)), daemon=True)
    scan.start()
    scan.join(timeout=60)

    assert found, "the scan blocked on the named pipe"
    reasons = {s.path.name: s.reason for s in found[0].skipped}
    assert reasons["pipe.dcm"] == "not a regular file (a pipe, socket or device)"


def test_a_dicomdir_entry_outside_its_folder_is_not_read(tmp_path):
    _ct_stack(tmp_path / "disk")
    _ct_stack(tmp_path / "outside")
    index = Dataset()
    index.file_meta = FileMetaDataset()
    index.file_meta.MediaStorageSOPClassUID = MEDIA_STORAGE_DIRECTORY_STORAGE
    index.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.5"
    index.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    index.FileSetID = "HOSTILE"
    records = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lower-case file names are not valid CS values
        for reference in (["slice000.dcm"], ["..", "outside", "slice001.dcm"]):
            record = Dataset()
            record.DirectoryRecordType = "IMAGE"
            record.ReferencedFileID = reference
            records.append(record)
        index.DirectoryRecordSequence = records
        index.save_as(tmp_path / "disk" / "DICOMDIR", enforce_file_format=True)

    found = scan_dicom(tmp_path / "disk" / "DICOMDIR")

    assert [s.files for s in found.series] == [(tmp_path / "disk" / "slice000.dcm",)]
    assert [s.reason[:40] for s in found.skipped] == ["listed in DICOMDIR but outside its folde"]


@pytest.mark.shared_dicom
def test_compressed_data_larger_than_rows_and_columns_are_refused(tmp_path, shared_dicom):
    source = shared_dicom / "transfer-syntaxes"
    name = "CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm"
    copy = tmp_path / name
    copy.write_bytes((source / name).read_bytes())
    _rewrite(copy, lambda ds: _put(ds, "Rows", 128))

    with pytest.raises(DicomLoadError, match=r"Rows 128 × Columns 512 but the compressed pixel"):
        load_image(tmp_path)


def test_a_modality_lut_whose_data_disagree_with_its_descriptor_is_refused(tmp_path):
    def broken_lut(ds):
        item = Dataset()
        item.LUTDescriptor = [0, 0, 16]  # 65536 entries
        item.add_new("LUTData", "US", [0, 1, 2])
        item.ModalityLUTType = "HU"
        ds.ModalityLUTSequence = [item]

    _ct_stack(tmp_path, broken_lut, only=1)

    reason = _reasons(tmp_path)["slice001.dcm"]

    assert "LUTDescriptor states 65536 entries but LUTData holds 3" in reason


def test_rle_rows_one_short_of_the_data_are_refused(tmp_path):
    (path,) = _rle_stack(tmp_path, rows=16, columns=16)
    _rewrite(path, lambda ds: _put(ds, "Columns", 15))

    with pytest.raises(DicomLoadError, match="RLE segment holds 256 bytes but Rows×Columns is 240"):
        load_image(tmp_path)


def test_a_rescale_stored_with_a_binary_vr_is_refused(tmp_path):
    _ct_stack(tmp_path, lambda ds: _put(ds, "RescaleIntercept", -3.5, "FD"), only=1)

    assert (
        "RescaleIntercept -3.5 is stored with VR FD instead of DS"
        in (_reasons(tmp_path)["slice001.dcm"])
    )


def test_naming_a_series_whose_files_were_all_skipped_says_why(tmp_path):
    _ct_stack(tmp_path, lambda ds: _put(ds, "BitsStored", 2))
    uid = pydicom.dcmread(tmp_path / "slice000.dcm").SeriesInstanceUID

    with pytest.raises(DicomLoadError, match=r"Skipped 4 file.*BitsStored 2"):
        load_image(tmp_path, series_uid=uid)


def test_an_error_naming_a_file_with_a_newline_in_its_name_stays_one_line(tmp_path, capsys):
    (path,) = _rle_stack(tmp_path, rows=16, columns=16)
    _rewrite(path, lambda ds: _put(ds, "Columns", 15))
    path.rename(tmp_path / "evil\nname.dcm")
    uid = pydicom.dcmread(tmp_path / "evil\nname.dcm").SeriesInstanceUID

    code = main(["info", str(tmp_path), "--series", uid])

    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and "evil\\nname.dcm" in error


@pytest.mark.shared_dicom
def test_a_bits_allocated_that_disagrees_with_a_compressed_stream_is_reported(
    tmp_path, shared_dicom
):
    name = "CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm"
    copy = tmp_path / name
    copy.write_bytes((shared_dicom / "transfer-syntaxes" / name).read_bytes())
    _rewrite(copy, lambda ds: _put(ds, "BitsAllocated", 32))

    volume = load_image(tmp_path)

    assert any("16-bit samples but BitsAllocated is 32" in w for w in volume.warnings)


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, RLELossless])
def test_a_file_removed_after_the_scan_is_a_load_error(tmp_path, transfer_syntax):
    _ct_stack(tmp_path, transfer_syntax=transfer_syntax)
    series = scan_dicom(tmp_path).series[0]
    (tmp_path / "slice002.dcm").unlink()

    with pytest.raises(DicomLoadError, match=r"slice002\.dcm: cannot be read .*moved, removed"):
        load_series(series)


def test_loading_checks_memory_again_on_the_machine_that_loads(tmp_path, monkeypatch):
    _ct_stack(tmp_path)
    series = scan_dicom(tmp_path).series[0]
    monkeypatch.setattr(bounds, "memory_budget_bytes", lambda: 100)

    with pytest.raises(DicomLoadError, match=r"loading this series would need .*4 frame"):
        load_series(series)
