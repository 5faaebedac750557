"""What a study's KOS manifest shares, read with ITI-43 from the repository with the user's
token (DESIGN.md step 5): its series, their instances and where each series is retrieved from
(Retrieve Location UID = the owning gateway's repositoryUniqueId, and its Retrieve URL).

A KOS lists what the site shared: the proxy, the download and the send serve nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ihe.ebrim import DocumentRequest, ResponseStatus, RetrieveDocumentSetRequest
from ihe.errors import RemoteProtocolError
from ihe.kos import Manifest
from partage import soapclient
from portal.imaging.problems import ImagingProblem


@dataclass(frozen=True)
class SharedSeries:
    """One series of the manifest: its instances (SOP Instance UID → SOP Class UID) and where
    they are retrieved from."""

    series_instance_uid: str
    retrieve_location_uid: str
    retrieve_url: str
    instances: dict[str, str]


@dataclass(frozen=True)
class SharedStudy:
    """A resolved manifest: the study's shared series in the manifest's order."""

    document_id: str
    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: date | None
    series: tuple[SharedSeries, ...]

    def find_series(self, series_instance_uid: str) -> SharedSeries | None:
        return next((s for s in self.series if s.series_instance_uid == series_instance_uid),
                    None)

    @property
    def number_of_instances(self) -> int:
        return sum(len(s.instances) for s in self.series)


def shared_study(document_id: str, manifest: Manifest) -> SharedStudy:
    """The manifest's references grouped by series (``Manifest`` has checked that every series
    names its Retrieve Location UID and that one study is referenced)."""
    series: dict[str, SharedSeries] = {}
    for ref in manifest.references:
        found = series.setdefault(ref.series_instance_uid, SharedSeries(
            ref.series_instance_uid, ref.retrieve_location_uid, ref.retrieve_url, {}))
        found.instances[ref.sop_instance_uid] = ref.sop_class_uid
    document = manifest.document
    return SharedStudy(
        document_id=document_id,
        study_instance_uid=manifest.study_instance_uid,
        patient_id=str(document.get("PatientID", "")),
        patient_name=str(document.get("PatientName", "")),
        study_date=_date(str(document.get("StudyDate", ""))),
        series=tuple(series.values()),
    )


def _date(value: str) -> date | None:
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def retrieve_manifest(repository_url: str, token: str, *, document_id: str,
                      repository_unique_id: str, document_unique_id: str,
                      home_community_id: str | None = None, timeout: float = 30.0
                      ) -> SharedStudy:
    """ITI-43 for one KOS with the user's token, parsed. Blocking (zeep): run it in a thread.

    Raises ``ImagingProblem``: 502 when the repository is unreachable, faults, refuses or
    returns something that is not a manifest."""
    request = RetrieveDocumentSetRequest([DocumentRequest(
        repository_unique_id, document_unique_id, home_community_id)])
    try:
        answer = soapclient.client_for(timeout=timeout).retrieve(repository_url, request, token)
    except soapclient.PeerUnavailable as exc:
        raise ImagingProblem(502, f"the repository could not be reached: {exc}") from None
    except soapclient.SoapClientError as exc:
        raise ImagingProblem(502, f"the repository did not give the manifest: {exc}") from None
    documents = [d for d in answer.documents if d.document_unique_id == document_unique_id]
    if answer.response.status == ResponseStatus.FAILURE or not documents:
        errors = "; ".join(f"{e.code}: {e.context}" for e in answer.response.errors)
        raise ImagingProblem(502, f"the repository refused manifest {document_unique_id} "
                                  f"({errors or 'no document returned'})")
    try:
        manifest = Manifest.from_bytes(documents[0].data)
    except RemoteProtocolError as exc:
        raise ImagingProblem(502, f"document {document_unique_id} is not a usable imaging "
                                  f"manifest: {exc}") from None
    return shared_study(document_id, manifest)
