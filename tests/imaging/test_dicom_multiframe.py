"""Enhanced multi-frame objects, ultrasound, colour, and compressed transfer syntaxes."""

import numpy as np
import pytest
from dicom_factory import enhanced_dataset, rotation, save, ultrasound_dataset, write_stack
from pydicom.dataset import Dataset
from pydicom.pixels import get_encoder
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom import scan_dicom
from planning_core.imaging.loader import load_image

ENHANCED_US_VOLUME = "1.2.840.10008.5.1.4.1.1.6.2"


def test_enhanced_ct_frames_are_ordered_by_position_with_per_frame_rescale(tmp_path):
    direction = rotation(10.0, 20.0, -5.0)
    origin = np.array([5.0, -7.5, 12.25])
    spacing_k = 1.5
    order = [2, 0, 3, 1]  # frames stored out of spatial order
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 4000, size=(4, 6, 5)).astype(np.uint16)
    rescales = [(1.0, -1024.0), (1.0, -1000.0), (2.0, -2048.0), (1.0, -1024.0)]
    positions = [origin + k * spacing_k * direction[:, 2] for k in order]
    ds = enhanced_dataset(
        stored,
        positions=positions,
        orientation=np.concatenate([direction[:, 0], direction[:, 1]]),
        pixel_spacing=(0.8, 0.6),
        rescales=rescales,
    )
    save(ds, tmp_path / "enhanced.dcm")

    volume = load_image(tmp_path / "enhanced.dcm")

    np.testing.assert_allclose(volume.geometry.origin_lps_mm, origin, atol=1e-4)
    np.testing.assert_allclose(volume.geometry.spacing_mm, (0.6, 0.8, spacing_k), atol=1e-4)
    np.testing.assert_allclose(volume.geometry.direction, direction, atol=1e-4)
    for frame, k in enumerate(order):
        slope, intercept = rescales[frame]
        np.testing.assert_array_equal(
            volume.voxels[k], stored[frame].astype(np.int32) * int(slope) + int(intercept)
        )
    assert volume.metadata["source_frame_numbers"] == [2, 4, 1, 3]
    assert volume.metadata["rescale"]["slopes"] == [1.0, 1.0, 1.0, 2.0]


def test_enhanced_frames_of_two_time_points_become_two_sub_series(tmp_path):
    stored = np.arange(6 * 4 * 4, dtype=np.uint16).reshape(6, 4, 4)
    positions = [(0.0, 0.0, 2.0 * (k % 3)) for k in range(6)]
    ds = enhanced_dataset(
        stored,
        positions=positions,
        orientation=(1, 0, 0, 0, 1, 0),
        pixel_spacing=(1, 1),
        temporal_indices=[1, 1, 1, 2, 2, 2],
    )
    save(ds, tmp_path / "dynamic.dcm")

    catalog = scan_dicom(tmp_path)

    assert [s.key[-2:] for s in catalog.series] == ["#1", "#2"]
    second = load_image(tmp_path, series_uid=catalog.series[1].key)
    np.testing.assert_array_equal(second.voxels, stored[3:])
    assert second.metadata["source_frame_numbers"] == [4, 5, 6]


def test_enhanced_us_volume_uses_the_volume_frame_and_says_so(tmp_path):
    stored = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    positions = [(0.0, 0.0, 0.5 * k) for k in range(3)]
    ds = enhanced_dataset(
        stored,
        positions=positions,
        orientation=(1, 0, 0, 0, 1, 0),
        pixel_spacing=(0.2, 0.25),
        sop_class=ENHANCED_US_VOLUME,
        modality="US",
        volume_frame=True,
    )
    save(ds, tmp_path / "usvolume.dcm")

    volume = load_image(tmp_path)

    assert volume.modality == "US"
    np.testing.assert_allclose(volume.geometry.spacing_mm, (0.25, 0.2, 0.5), atol=1e-9)
    np.testing.assert_array_equal(volume.voxels, stored)
    assert any("volume's own frame of reference" in w for w in volume.warnings)


def test_ultrasound_pixel_size_comes_from_the_largest_calibrated_region(tmp_path):
    image = np.random.default_rng(2).integers(0, 255, size=(40, 60), dtype=np.uint8)
    regions = [
        {"delta_x_cm": 0.02, "delta_y_cm": 0.025, "x0": 5, "y0": 5, "x1": 50, "y1": 35},
        {"delta_x_cm": 0.05, "delta_y_cm": 0.05, "x0": 52, "y0": 0, "x1": 59, "y1": 8},
    ]
    save(ultrasound_dataset(image, regions=regions), tmp_path / "us.dcm")

    volume = load_image(tmp_path / "us.dcm")

    np.testing.assert_allclose(volume.geometry.spacing_mm[:2], (0.2, 0.25), atol=1e-9)
    np.testing.assert_array_equal(volume.voxels[0], image)
    assert any("different pixel sizes" in w for w in volume.warnings)
    assert any("placed at the origin" in w for w in volume.warnings)


def test_multiframe_ultrasound_cine_is_stacked_with_a_warning(tmp_path):
    frames = np.random.default_rng(3).integers(0, 255, size=(5, 16, 20), dtype=np.uint8)
    regions = [{"delta_x_cm": 0.03, "delta_y_cm": 0.03, "x0": 0, "y0": 0, "x1": 19, "y1": 15}]
    save(ultrasound_dataset(frames, regions=regions), tmp_path / "cine.dcm")

    volume = load_image(tmp_path)

    assert volume.shape == (5, 16, 20)
    np.testing.assert_array_equal(volume.voxels, frames)
    assert any("cine loop in time" in w for w in volume.warnings)
    with pytest.raises(DicomLoadError, match="cine loop in time"):
        load_image(tmp_path, strict=True)


def test_colour_ultrasound_becomes_luminance(tmp_path):
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    save(ultrasound_dataset(rgb), tmp_path / "colour.dcm")

    volume = load_image(tmp_path)

    np.testing.assert_allclose(volume.voxels, 0.299 * 200 + 0.587 * 100 + 0.114 * 50, atol=1e-3)
    assert any("converted to grey levels" in w for w in volume.warnings)


def _available(syntax):
    return get_encoder(syntax).is_available


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, JPEGLSLossless])
def test_lossless_compressed_series_equal_the_uncompressed_one(tmp_path, syntax):
    if not _available(syntax):
        pytest.skip(f"no encoder installed for {syntax.name}")
    stored = np.random.default_rng(4).integers(-1024, 3000, size=(4, 64, 48)).astype(np.int16)
    direction = rotation(5.0, 0.0, 0.0)
    write_stack(tmp_path / "plain", stored, spacing_ijk=(0.7, 0.7, 2.0), direction=direction)
    write_stack(
        tmp_path / "packed",
        stored,
        spacing_ijk=(0.7, 0.7, 2.0),
        direction=direction,
        transfer_syntax=syntax,
    )

    plain = load_image(tmp_path / "plain")
    packed = load_image(tmp_path / "packed")

    np.testing.assert_array_equal(packed.voxels, plain.voxels)
    assert packed.geometry.matches(plain.geometry)
    assert packed.metadata["transfer_syntax_uid"] == syntax


class _CountingFile:
    """A binary file that counts the bytes read through it."""

    def __init__(self, stream, counter):
        self._stream, self._counter = stream, counter

    def read(self, size=-1):
        data = self._stream.read(size)
        self._counter.append(len(data))
        return data

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stream.close()


def test_scanning_reads_headers_only(tmp_path, monkeypatch):
    write_stack(tmp_path, np.zeros((3, 128, 256), np.int16), spacing_ijk=(1, 1, 1))
    import planning_core.imaging.dicom.headers as headers

    counter: list[int] = []

    def counting_open(path, mode):
        return _CountingFile(open(path, mode), counter)  # closed by the wrapper

    monkeypatch.setattr(headers, "open", counting_open, raising=False)

    catalog = scan_dicom(tmp_path)

    assert catalog.series[0].geometry.shape == (3, 128, 256)
    assert sum(counter) < 3 * 4096  # each file holds 64 KiB of pixels


def test_modality_lut_sequence_is_applied(tmp_path):
    stored = np.array([[[0, 1], [2, 3]]], dtype=np.uint16)

    def with_lut(ds, _):
        lut = Dataset()
        lut.LUTDescriptor = [4, 0, 16]
        lut.ModalityLUTType = "HU"
        lut.LUTData = np.array([10, 20, 30, 45], dtype="<u2").tobytes()
        ds.ModalityLUTSequence = Sequence([lut])

    write_stack(tmp_path, stored, spacing_ijk=(1, 1, 1), rescale=None, edit=with_lut)

    volume = load_image(tmp_path)

    np.testing.assert_array_equal(volume.voxels, [[[10, 20], [30, 45]]])
    assert any("Modality LUT" in w for w in volume.warnings)
