"""The local region on embedded defaults (``partage.region``): the development OIDC provider,
the consent service, the registry, the repository, two imaging sites (an Orthanc PACS plus a
gateway each) and the portal on fixed loopback ports, SQLite, document files and PACS storage
under one folder. Demo patients are fed through the identity feed with their local IDs at each
site, three of them choose a sharing policy (written as each patient through the consent API),
a sample report walks ITI-41 → ITI-18 → ITI-43, synthetic studies (current and priors) are
loaded into the sites' PACS, the gateways publish them (RAD-68), and the portal and privacy
centre addresses and demo logins are printed, so a newcomer signs in and compares studies, and
sees what each patient's choice does.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ihe.ebrim import (
    AdhocQueryRequest,
    Document,
    DocumentRequest,
    ExtrinsicObject,
    ProvideAndRegisterDocumentSetRequest,
    ResponseStatus,
    RetrieveDocumentSetRequest,
    Slot,
    Status,
)
from ihe.ebrim.builders import (
    Author,
    Code,
    DocumentEntryMetadata,
    SubmissionSetMetadata,
    submission,
)
from partage import soapclient
from partage.demo_sites import SITES, STUDIES, DemoPatient, site_studies, spec_of
from partage.idp import USERS_FILE
from partage.region import Region

REFERENCE_ID_SLOT = "urn:ihe:iti:xds:2013:referenceIdList"
ACCESSION_TYPE = "urn:ihe:iti:xds:2013:accession"  # test INS (DESIGN.md, Identifiers)
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"


SITE_A, SITE_B = SITES
PATIENTS = [
    DemoPatient("2801205123456", "MARTIN", "Claire", "19801205", "F",
                (("a", "IPP-A-1001"), ("b", "CIS-30017"))),
    DemoPatient("1750399123457", "DURAND", "Paul", "19750312", "M",
                (("a", "IPP-A-1003"), ("b", "CIS-20001"))),
    DemoPatient("2620875123458", "PETIT", "Jeanne", "19620827", "F",
                (("a", "IPP-A-1002"), ("b", "CIS-20588"))),
    DemoPatient("1481175123459", "BERNARD", "Louis", "19481102", "M", (("b", "CIS-11452"),)),
]
#: the patients' sharing policies (README, "Demo logins"): Claire MARTIN keeps the region's
#: default (opt-out: shared); Paul DURAND hides his emergency head CT and blocks Dr Lefèvre;
#: Jeanne PETIT shares nothing but allows emergency access ("break the glass")
LEFEVRE_RPPS = "10007654321"
POLICIES: dict[str, dict[str, object]] = {
    "paul.durand": {"hidden_studies": [s.study_instance_uid for s in STUDIES
                                       if s.accession_number == "CHUN19000871"],
                    "blocked_professionals": [LEFEVRE_RPPS]},
    "jeanne.petit": {"base": "block", "emergency_access": True},
}
#: fixed loopback ports (README, "demo"); tests pass free ones
PORTS = {
    "issuer": 8000, "consent": 8060, "registry": 8010, "repository": 8020, "mllp": 2575,
    "portal": 8050,
    "a_gateway": 8030, "a_gateway_dicom": 11112, "a_pacs_http": 8042, "a_pacs_dicom": 4242,
    "b_gateway": 8031, "b_gateway_dicom": 11113, "b_pacs_http": 8043, "b_pacs_dicom": 4243,
}
#: how each site's gateway talks to its PACS
ADAPTERS = {"dimse": "DIMSE (C-FIND, C-GET)", "dicomweb": "DICOMweb (QIDO-RS, WADO-RS)"}
#: lifetime of the demo's access tokens (the site administrator's token file included)
TOKEN_LIFETIME_S = 12 * 3600


def _oid() -> str:
    """A unique OID under the UUID arc (ITU-T X.667), for demo uniqueIds."""
    return f"2.25.{uuid.uuid4().int}"


def _step(message: str) -> None:
    sys.stderr.write(f"  • {message}\n")
    sys.stderr.flush()


def sample_submission(patient: DemoPatient) -> ProvideAndRegisterDocumentSetRequest:
    """A report of site A, sourced and authored as site A (XON.10 = its OID): what site A's
    gateway token may submit."""
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    institution = f"{SITE_A.name}^^^^^^^^^{SITE_A.oid}"
    report = (
        f"CHU Nord — Service d'imagerie\nScanner thoracique du {now[:8]}\n"
        f"Patient : {patient.family} {patient.given}\nConclusion : pas d'anomalie évolutive.\n"
    ).encode()
    entry = DocumentEntryMetadata(
        entry_uuid="Document01",
        unique_id=_oid(),
        patient_id=patient.cx,
        source_patient_id=f"{patient.local_id(SITE_A)}^^^&{SITE_A.local_authority}&ISO",
        class_code=Code("REPORTS", "1.3.6.1.4.1.19376.1.2.6.1", "Reports"),
        type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        format_code=Code("urn:ihe:rad:TEXT", "1.3.6.1.4.1.19376.1.2.3", "Radiology report text"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
        healthcare_facility_type_code=Code("SA01", "1.2.250.1.71.4.2.4", "Centre hospitalier"),
        practice_setting_code=Code("394914008", "2.16.840.1.113883.6.96", "Radiology"),
        creation_time=now,
        mime_type="text/plain",
        title="Compte rendu de scanner thoracique",
        event_codes=[Code("CT", "DCM", "Computed Tomography")],
        service_start_time=now[:12],
        reference_ids=[f"ACC-{now}^^^^urn:ihe:iti:xds:2013:accession"],
        authors=[Author(person="^LEROY^Marc^^^Dr", institutions=(institution,))],
    )
    ss = SubmissionSetMetadata(
        entry_uuid="SubmissionSet01", unique_id=_oid(), source_id=SITE_A.oid,
        patient_id=patient.cx, submission_time=now,
        content_type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        authors=[Author(institutions=(institution,))],
    )
    return ProvideAndRegisterDocumentSetRequest(submission(ss, [entry]),
                                                [Document("Document01", report)])


def find_documents(registry_url: str, patient: DemoPatient, token: str) -> list[ExtrinsicObject]:
    """The patient's Approved DocumentEntries (ITI-18 FindDocuments with the caller's
    ``token``); raise on a failure."""
    query = AdhocQueryRequest(
        FIND_DOCUMENTS,
        [Slot("$XDSDocumentEntryPatientId", [f"'{patient.cx}'"]),
         Slot("$XDSDocumentEntryStatus", [f"('{Status.APPROVED}')"])],
    )
    found = soapclient.stored_query(f"{registry_url}/registry", query, token=token)
    if found.status != ResponseStatus.SUCCESS:
        raise RuntimeError(f"ITI-18 failed: {[(e.code, e.context) for e in found.errors]}")
    return [o for o in found.objects if isinstance(o, ExtrinsicObject)]


def check_imaging(registry_url: str, token: str) -> None:
    """Every patient's studies are found once each, whichever site holds them (the KOS
    manifests the gateways published); raise otherwise."""
    for i, patient in enumerate(PATIENTS):
        kos = [e for e in find_documents(registry_url, patient, token)
               if e.mime_type == "application/dicom"]
        accessions = sorted(
            v.split("^")[0] for e in kos for v in e.slot_values(REFERENCE_ID_SLOT)
            if v.endswith(ACCESSION_TYPE)
        )
        expected = sorted(s.accession_number for s in STUDIES if s.patient == i)
        if accessions != expected:
            raise RuntimeError(f"ITI-18 for {patient.cx}: studies {accessions}, not {expected}")
        sites = sorted({s.site for s in STUDIES if s.patient == i})
        _step(f"ITI-18 FindDocuments: {patient.family} {patient.given}, {len(kos)} imaging "
              f"studies from {len(sites)} site(s)")


def exercise(registry_url: str, repository_url: str, repository_unique_id: str,
             token: str, source_token: str) -> None:
    """Submit a sample report as site A's gateway (``source_token``), find it with ITI-18,
    retrieve it with ITI-43 (both with the caller's ``token``); raise if any step does not do
    what the profile says."""
    patient = PATIENTS[0]
    request = sample_submission(patient)
    answer = soapclient.provide_and_register(f"{repository_url}/repository", request,
                                             token=source_token)
    if answer.status != ResponseStatus.SUCCESS:
        raise RuntimeError(f"ITI-41 failed: {[(e.code, e.context) for e in answer.errors]}")
    _step("ITI-41 Provide and Register: sample report stored and registered")
    entries = [e for e in find_documents(registry_url, patient, token)
               if e.mime_type == "text/plain"]
    if not entries:
        raise RuntimeError("ITI-18 found no report")
    _step(f"ITI-18 FindDocuments: {len(entries)} report(s) for {patient.family} {patient.given}")
    entry = entries[-1]
    retrieved = soapclient.retrieve(
        f"{repository_url}/repository",
        RetrieveDocumentSetRequest([DocumentRequest(repository_unique_id, entry.unique_id or "")]),
        token=token,
    )
    data = retrieved.documents[0].data if retrieved.documents else b""
    if hashlib.sha1(data).hexdigest() != entry.slot_value("hash"):
        raise RuntimeError("ITI-43 returned bytes whose SHA-1 differs from the registered hash")
    _step(f"ITI-43 Retrieve: {len(data)} bytes, SHA-1 matches the registry")


def main(data_dir: Path, once: bool = False, ports: dict[str, int] | None = None) -> int:
    ports = {**PORTS, **(ports or {})}
    with Region(data_dir, ports, SITES, access_token_ttl_s=TOKEN_LIFETIME_S) as region:
        sys.stderr.write(f"Partage demo region (data in {region.data_dir})\n")
        region.feed(PATIENTS)
        for i, p in enumerate(PATIENTS, 1):
            where = ", ".join(f"{local_id} at {region.sites[key].name}"
                              for key, local_id in p.local_ids)
            _step(f"patient {i}/{len(PATIENTS)}: {p.family} {p.given} ({p.cx}; {where})")
        choose_policies(region)
        reader = region.service_token()  # the demo's own ITI-18 / ITI-43 checks (unfiltered)
        exercise(region.registry.url, region.repository.url, region.repository_unique_id,
                 reader, region.gateway_token(SITE_A.key))
        for site in SITES:
            specs = [spec_of(study, PATIENTS[study.patient].at(site), site)
                     for study in site_studies(site)]
            stored = region.start_site(site, specs)  # its gateway's sweep publishes them
            _step(f"{site.name}: {stored} new of {len(specs)} studies in its PACS")
        published = {site.key: region.wait_published(site.key, len(list(site_studies(site))))
                     for site in SITES}
        check_imaging(region.registry.url, reader)
        region.start_portal(export_site=SITES[0].key)
        token_file = region.data_dir / "site-admin.token"
        token_file.write_text(region.admin_token())
        sys.stderr.write(summary(region, published, token_file))
        if once:
            return 0
        sys.stderr.write("Press Ctrl-C to stop.\n")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        return 0


def choose_policies(region: Region) -> None:
    """Each demo patient's policy, written as that patient unless it already says this (a
    second start adds no version)."""
    for login, policy in POLICIES.items():
        current = region.policy(login)
        if all(current.get(key) == value for key, value in policy.items()):
            _step(f"{login}: policy version {current['version']} kept")
            continue
        written = region.set_policy(login, policy)
        _step(f"{login}: policy version {written['version']} written as the patient "
              f"({', '.join(f'{k}={v}' for k, v in policy.items())})")


def logins() -> list[str]:
    """The development IdP's demo users, one line each (deploy/idp/users.json)."""
    users = json.loads(USERS_FILE.read_text())
    users = users["users"] if isinstance(users, dict) else users
    lines = []
    for user in users:
        roles = ", ".join(user.get("roles", []))
        where = user.get("organisation") or (f"INS {user['ins']}" if user.get("ins") else "")
        lines.append(f"  {user['login']:<15} {user.get('name', ''):<28} {roles}"
                     + (f" — {where}" if where else ""))
    return lines


def summary(region: Region, published: dict[str, dict[str, int]], token_file: Path) -> str:
    registry, repository = region.registry.url, region.repository.url
    lines = [
        "", "Region is up:",
        f"  portal      {region.portal_url}/   <- professionals sign in here",
        f"  privacy     {region.consent_url}/   <- patients sign in here (privacy centre)",
        f"  consent     {region.consent_url}  (decisions, policies, emergency grants, "
        "audit records: POST /audit, GET /AuditEvent)",
        f"  OIDC IdP    {region.idp.issuer}  (development: panva oidc-provider)",
        f"  registry    {registry}/registry  (ITI-42, ITI-18, ITI-57)",
        f"  identity    {registry}/identity/patients  (REST feed; /identity/sites directory)",
        f"  HL7v2 ADT   MLLP 127.0.0.1:{region.ports['mllp']}",
        f"  repository  {repository}/repository  (ITI-41, ITI-43)",
        "", "Sites:",
    ]
    for site in SITES:
        counts = published[site.key]
        others = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())
                           if state != "published" and n)
        url = region.gateway_url(site.key)
        ports = region.ports
        lines += [
            f"  {site.name} ({site.oid}): {counts.get('published', 0)} studies published"
            + (f" ({others})" if others else ""),
            f"    gateway   {url}  WADO-RS {url}/wado-rs, RAD-69 {url}/rad69, WADO-URI "
            f"{url}/wado, status {url}/status",
            f"              PACS over {ADAPTERS[site.adapter]}; C-STORE SCP "
            f"{site.gateway_ae_title} @ 127.0.0.1:{ports[f'{site.key}_gateway_dicom']}",
            f"    PACS      Orthanc http://127.0.0.1:{ports[f'{site.key}_pacs_http']}"
            f"  DICOM {site.pacs_ae_title} @ 127.0.0.1:{ports[f'{site.key}_pacs_dicom']}",
        ]
    lines += [
        "", "Demo logins (password: demo) — professionals compare studies in the portal;",
        "patients set their sharing policy and read their access log in the privacy centre:",
        *logins(),
        "", "Patients' policies (README, \"Demo logins\"):",
        "  claire.martin  region default (opt-out): every study shared",
        "  paul.durand    hides his 2019 head CT; blocks dr.lefevre (who sees none of his",
        "                 studies)",
        "  jeanne.petit   shares nothing, allows emergency access: sign in as dr.martin, open",
        "                 PETIT Jeanne, \"Accès en urgence\" with a written reason",
        "", f"A site administrator's token (valid {TOKEN_LIFETIME_S // 3600} h): {token_file}",
        f"  curl -H \"Authorization: Bearer $(cat {token_file})\" "
        f"{region.gateway_url(SITES[0].key)}/status.json",
        "",
    ]
    return "\n".join(lines)
