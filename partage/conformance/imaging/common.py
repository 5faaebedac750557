"""What the RAD-69 and RAD-55 checks share: the Imaging Document Source under test, the UIDs a
request names (by role, in place of the ids_2018 UIDs of NIST's files), and NIST's
``sameDcmImgs`` comparison of a returned image with the original."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import generate_uid

from partage.conformance.imaging.fixture import SAME_TAGS, ImagingStudy


@dataclass(frozen=True)
class Source:
    """The Imaging Document Source under test: its RAD-69 and WADO-URI endpoints, its
    repositoryUniqueId and the bearer token its endpoints want (empty: none sent)."""

    rad69_url: str
    wado_url: str
    repository_unique_id: str
    token: str = ""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass(frozen=True)
class Target:
    """The study, series and instance a request names, each by role: a study letter (``a``,
    ``b``, ``c``: that study's first study/series/instance UID), ``""`` (sent empty) or ``?``
    (a UID nobody has)."""

    study: str
    series: str
    sop: str

    def uids(self, studies: dict[str, ImagingStudy]) -> tuple[str, str, str]:
        def uid(role: str, attribute: str) -> str:
            if role == "?":
                return generate_uid()
            return getattr(studies[role], attribute) if role else ""

        return (uid(self.study, "study_uid"), uid(self.series, "series_uid"),
                uid(self.sop, "sop_uid"))


def same_image(data: bytes, studies: dict[str, ImagingStudy]) -> list[str]:
    """NIST ``sameDcmImgs``: a returned instance carries the original's values of
    ``SAME_TAGS``; its pixel data is the original's when served in the stored syntax."""
    try:
        got = dcmread(BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        return [f"not a DICOM instance: {exc}"]
    sop = str(got.get("SOPInstanceUID", ""))
    original = next((o for s in studies.values() if (o := s.image(sop)) is not None), None)
    if original is None:
        return [f"instance {sop!r} is none of the test images"]
    found = [f"{sop} {tag}: {got.get(tag)!r} != original {original.get(tag)!r}"
             for tag in SAME_TAGS if str(got.get(tag, "")) != str(original.get(tag, ""))]
    same_syntax = got.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    if same_syntax and got.get("PixelData") != original.get("PixelData"):
        found.append(f"{sop} PixelData differs from the original")
    return found
