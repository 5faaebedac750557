"""The element-header walk of ``gateway.part10`` against pydicom: the same UIDs and transfer
syntax on every file pydicom ships (or ``None``, never a different answer), answers for the
ordinary encodings, and ``None`` rather than an exception for damaged bytes."""

from __future__ import annotations

import io
import random
import warnings
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from gateway import imaging
from gateway.part10 import Identity, identity, transfer_syntax
from partage.studies import Patient, StudySpec, build_study


def part10(ds: Dataset, syntax: str = ExplicitVRLittleEndian) -> bytes:
    ds.file_meta.TransferSyntaxUID = syntax
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True, implicit_vr=syntax == ImplicitVRLittleEndian)
    return out.getvalue()


def by_pydicom(data: bytes) -> Identity | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
        except Exception:  # noqa: BLE001 (whatever pydicom refuses, the walk must not answer)
            return None
    return Identity(str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", "")),
                    str(ds.get("SOPInstanceUID", "")), str(ds.file_meta.get("TransferSyntaxUID")))


def ct() -> Dataset:
    spec = StudySpec(Patient("P1", "DOE^Jane", "19700101", "F", "1.2.3"), slices=1)
    return build_study(spec)[0]


def test_same_answer_as_pydicom_on_its_test_files() -> None:
    answered = 0
    for name in get_testdata_files("**/*"):
        if not Path(name).is_file():
            continue
        data = Path(name).read_bytes()
        found = identity(data)
        if found is not None:
            assert found == by_pydicom(data), name
            answered += 1
    assert answered > 100  # the ordinary files are read without pydicom


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_nested_sequences_of_undefined_length_are_skipped(syntax: str) -> None:
    ds = ct()
    inner = Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator, inner.CodeMeaning = "T-D3000", "SRT", "Chest"
    outer = Dataset()
    outer.ReferencedSOPInstanceUID = "1.2.3.4"
    outer.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    outer.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([outer, outer])  # (0008,1140): before the UIDs' group
    ds.AnatomicRegionSequence = Sequence([inner])  # (0008,2218): defined length
    for item in (outer, inner):
        item.is_undefined_length_sequence_item = True
    ds["ReferencedImageSequence"].is_undefined_length = True
    outer["PurposeOfReferenceCodeSequence"].is_undefined_length = True
    data = part10(ds, syntax)
    assert data.count(b"\xfe\xff\xdd\xe0") == 3 and data.count(b"\xfe\xff\x0d\xe0") == 5
    found = identity(data)
    assert found is not None and found == by_pydicom(data)
    assert found.sop_instance_uid == ds.SOPInstanceUID
    assert imaging.header(data).series_instance_uid == ds.SeriesInstanceUID


def test_unusual_encodings_are_left_to_pydicom() -> None:
    big_endian = Path(get_testdata_file("MR_small_bigendian.dcm")).read_bytes()
    deflated = Path(get_testdata_file("image_dfl.dcm")).read_bytes()
    no_preamble = Path(get_testdata_file("no_meta.dcm")).read_bytes()
    for data in (big_endian, deflated, no_preamble):
        assert identity(data) is None
    assert transfer_syntax(big_endian) == "1.2.840.10008.1.2.2"
    assert imaging.header(big_endian) == imaging.Header(*by_pydicom(big_endian).__dict__.values())


def test_damaged_bytes_give_none_or_the_truth() -> None:
    data = part10(ct())
    truth = identity(data)
    assert truth is not None and transfer_syntax(data) == ExplicitVRLittleEndian
    rng = random.Random(7)
    end_of_uids = data.index(truth.series_instance_uid.encode()) + 64
    for cut in range(0, end_of_uids, 7):
        assert identity(data[:cut]) in (None, truth)
    for _ in range(2000):
        damaged = bytearray(data[:4096])
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(128, end_of_uids)] = rng.randrange(256)
        found = identity(bytes(damaged))  # must not raise
        if found is not None:
            assert all(uid.isascii() for uid in found.__dict__.values())
