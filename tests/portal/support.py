"""What the portal's tests share: a real registry that accepts one issuer's tokens, imaging
studies registered into it as the gateways publish them (KOS DocumentEntries, ITI-42), and a
browser signing in to the portal through the development IdP's login page with httpx."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urljoin

import httpx

from ihe.ebrim.builders import Author, Code, DocumentEntryMetadata, SubmissionSetMetadata, submission
from ihe.ebrim.enum import REFERENCE_ID_ACCESSION, REFERENCE_ID_STUDY_INSTANCE_UID, ResponseStatus
from ihe.kos.enum import FORMAT_CODE, MIME_TYPE, CodingScheme
from ihe.kos.metadata import ACQUISITION_MODALITIES
from partage import soapclient
from partage.serve import background
from registry.core.config import RegistrySettings
from registry.main import create_app as create_registry
from tests.idp.signin import first_form

INS_AUTHORITY = "1.2.250.1.213.1.4.10"
SITE_A = ("CHU Nord", "1.2.250.1.999.1.1")
SITE_B = ("Centre d'imagerie Sud", "1.2.250.1.999.1.2")
#: anatomic regions (CID 4, SNOMED CT) the tests use
REGIONS = {"Chest": "51185008", "Head": "69536005", "Abdomen": "818983003", "Knee": "72696002"}


def cx(ins: str) -> str:
    return f"{ins}^^^&{INS_AUTHORITY}&ISO"


@dataclass(frozen=True)
class RunningRegistry:
    """A registry on loopback whose ITI-18 and identity reads accept ``issuer``'s tokens."""

    base: str
    feed_token: str

    @property
    def soap(self) -> str:
        return f"{self.base}/registry"

    @property
    def identity(self) -> str:
        return f"{self.base}/identity"

    def feed(self, ins: str, family: str, given: str, birth_date: str, sex: str = "F") -> str:
        """Make a patient known to the region (REST identity feed); their CX."""
        patient_id = cx(ins)
        answer = httpx.put(f"{self.identity}/patients/{quote(patient_id, safe='')}",
                           json={"family_name": family, "given_name": given,
                                 "birth_date": birth_date, "sex": sex, "identifiers": []},
                           headers={"Authorization": f"Bearer {self.feed_token}"})
        answer.raise_for_status()
        return patient_id

    def publish(self, patient_id: str, study: Study, token: str) -> str:
        """Register the study's KOS DocumentEntry as a gateway's RAD-68 would (ITI-42, with a
        writer's ``token``: the study's site gateway's or the repository's); its entryUUID."""
        request = study.submission(patient_id)
        answer = soapclient.register(self.soap, request, token=token)
        assert answer.status == ResponseStatus.SUCCESS, answer.errors
        return study.entry_uuid


@contextmanager
def running_registry(data_dir: Path, issuer: str, audience: str = "partage"
                     ) -> Iterator[RunningRegistry]:
    settings = RegistrySettings(data_dir=data_dir, log_json=False, issuer=issuer,
                                audience=audience)
    with background(create_registry(settings)) as server:
        yield RunningRegistry(server.url, settings.feed_token)


@dataclass(frozen=True)
class Study:
    """A study as its site publishes it (the KOS DocumentEntry's metadata)."""

    site: tuple[str, str]
    started: datetime
    modalities: tuple[str, ...]
    regions: tuple[str, ...]
    description: str
    accession: str
    instances: int
    entry_uuid: str = ""
    study_instance_uid: str = ""
    unique_id: str = ""

    @classmethod
    def of(cls, site: tuple[str, str], started: str, modalities: str, regions: str,
           description: str, accession: str, instances: int = 120) -> Study:
        return cls(site, datetime.fromisoformat(started).replace(tzinfo=UTC),
                   tuple(modalities.split("/")), tuple(r for r in regions.split("/") if r),
                   description, accession, instances,
                   entry_uuid=f"urn:uuid:{uuid.uuid4()}",
                   study_instance_uid=f"2.25.{uuid.uuid4().int}",
                   unique_id=f"2.25.{uuid.uuid4().int}")

    @property
    def id(self) -> str:
        return self.entry_uuid.removeprefix("urn:uuid:")

    def submission(self, patient_id: str):  # type: ignore[no-untyped-def]
        name, oid = self.site
        events = [Code(m, CodingScheme.DCM.value, ACQUISITION_MODALITIES[m])
                  for m in self.modalities]
        events += [Code(REGIONS[r], CodingScheme.SCT.value, r) for r in self.regions]
        institution = f"{name}^^^^^^^^^{oid}"
        now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        kos = f"KOS of {self.study_instance_uid}".encode()
        entry = DocumentEntryMetadata(
            entry_uuid=self.entry_uuid, unique_id=self.unique_id, patient_id=patient_id,
            source_patient_id=f"IPP-{self.accession}^^^&{oid}.100&ISO",
            class_code=Code("IMAGES", "1.2.250.1.213.1.1.4.1", "Images"),
            type_code=Code("18748-4", CodingScheme.LOINC.value, "Diagnostic imaging study"),
            format_code=Code(*FORMAT_CODE),
            confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
            healthcare_facility_type_code=Code("SA01", "1.2.250.1.71.4.2.4", "Hôpital"),
            practice_setting_code=Code("394914008", CodingScheme.SCT.value, "Radiology"),
            creation_time=now, mime_type=MIME_TYPE, title=self.description,
            event_codes=events, service_start_time=self.started.strftime("%Y%m%d%H%M"),
            reference_ids=[
                f"{self.accession}^^^&{oid}.200&ISO^{REFERENCE_ID_ACCESSION}",
                f"{self.study_instance_uid}^^^^{REFERENCE_ID_STUDY_INSTANCE_UID}",
            ],
            authors=[Author(institutions=(institution,))],
            hash=hashlib.sha1(kos).hexdigest(), size=len(kos),
            repository_unique_id=f"{oid}.300",
            extra_slots={"urn:partage:xdsi:numberOfStudyRelatedInstances":
                         [str(self.instances)]},
        )
        ss = SubmissionSetMetadata(
            entry_uuid="SubmissionSet01", unique_id=f"2.25.{uuid.uuid4().int}", source_id=oid,
            patient_id=patient_id, submission_time=now,
            content_type_code=Code("18748-4", CodingScheme.LOINC.value,
                                   "Diagnostic imaging study"),
            authors=[Author(institutions=(institution,))],
        )
        return submission(ss, [entry])


def portal_sign_in(browser: httpx.Client, portal_url: str, login: str, password: str = "demo",
                   next_path: str = "/") -> httpx.Response:
    """Sign in to the portal as a browser does: the portal's /auth/login sends the browser to
    the IdP's login page, the form is filled in and posted, and the redirects lead back through
    /auth/callback to ``next_path``; the last answer (the page reached)."""
    page = browser.get(f"{portal_url}/auth/login", params={"next": next_path},
                       follow_redirects=True)
    form = first_form(page)
    assert {"login", "password"} <= set(form.fields), f"not the IdP's login page: {page.url}"
    return browser.post(urljoin(str(page.url), form.action),
                        data={**form.fields, "login": login, "password": password},
                        follow_redirects=True)
