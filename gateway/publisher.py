"""Publishing one study to the region: RAD-68 Provide and Register Imaging Document Set - MTOM/XOP
(RAD TF-3 §4.68), i.e. ITI-41 with a KOS manifest, and its lifecycle.

``Publisher.publish(uid)`` is idempotent. It reads the study from the PACS and

* sends nothing when the study's instance set is the one already published (same hash);
* holds the study back when its local patient ID has no regional ID yet (retried by sweeps);
* publishes a new KOS, as a replacement (RPLC, ITI TF-3 §4.2.2.2) of the previous
  DocumentEntry when the study changed;
* deprecates the DocumentEntry (ITI-57, ITI TF-2b §3.57.4.1.3.3.1.3) when the study left the PACS.

Identifiers of a submission are recorded (``pending``) before it is sent. If the answer is lost
(interrupted run, timeout), the next attempt asks the registry whether that uniqueId arrived
(ITI-18 GetDocuments) instead of publishing the study twice. The registry's cross-reference and
ITI-18, ITI-41 and ITI-57 are sent with the gateway's own token (client credentials,
``GatewaySettings``): the region accepts a site-gateway's submissions for its own site only.
Every submission and withdrawal the region answered is audited once (``publish.audit``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid

import httpx
from pydicom.uid import generate_uid

from gateway.core.config import GatewaySettings
from gateway.models import PublishedStudy, PublishState
from gateway.pacs import Pacs, StudyInfo
from gateway.publish import identity, manifest, records
from gateway.publish.audit import record_publish
from gateway.publish.registry import (
    RegistryRefused,
    deprecation,
    registered_entry,
)
from ihe.ebrim import Status
from ihe.atna import EventOutcomeIndicator
from partage import soapclient
from partage.audit import AuditTrail
from partage.db import Database
from partage.soapclient import PeerUnavailable, SoapClientError, SoapFaultError
from partage.tokens import TokenUnavailable

log = logging.getLogger(__name__)


def instances_hash(study: StudyInfo) -> str:
    """SHA-256 of the study's instance set (series and SOP Instance UIDs, order-free)."""
    lines = sorted(
        f"{series.series_instance_uid}/{instance.sop_instance_uid}"
        for series in study.series for instance in series.instances
    )
    return hashlib.sha256("\n".join(lines).encode("ascii")).hexdigest()


class Publisher:
    """Publishes the studies of one site's PACS; thread-safe (one study at a time)."""

    def __init__(self, settings: GatewaySettings, db: Database, pacs: Pacs,
                 audit: AuditTrail | None = None) -> None:
        self.settings = settings
        self.db = db
        self.pacs = pacs
        #: where each submission and withdrawal is audited (``None``: not audited)
        self.audit = audit
        self._http = httpx.Client(timeout=30.0)
        self._tokens = settings.token_source()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()
        if self._tokens is not None:
            self._tokens.close()

    def _token(self) -> str | None:
        """The gateway's bearer token for the registry and the repository (``None`` without a
        client); ``TokenUnavailable`` when the issuer does not give one."""
        return self._tokens.token() if self._tokens is not None else None

    def publish(self, study_instance_uid: str) -> PublishState | None:
        """Bring the region up to date with the PACS for this study; the study's state
        afterwards (``None``: neither the PACS nor the gateway knows it). ``PacsError``
        propagates: without the PACS there is nothing to decide."""
        with self._lock:
            study = self.pacs.study(study_instance_uid)
            with self.db.session() as session:
                record = session.get(PublishedStudy, study_instance_uid)
            if record is not None:
                self._reconcile(record)
            if study is None:
                return self._withdraw(record) if record is not None else None
            return self._publish(study, record)

    # -- steps -------------------------------------------------------------------------------
    def _reconcile(self, record: PublishedStudy) -> None:
        """Find out whether a submission whose answer was lost reached the registry, and the
        entryUUID of a published entry that was not recorded."""
        planned = record.state in (PublishState.PENDING, PublishState.FAILED) and (
            record.document_unique_id and record.entry_uuid != record.approved_entry_uuid
        )
        unknown = record.state == PublishState.PUBLISHED and not record.approved_entry_uuid
        if not (planned or unknown) or not record.document_unique_id:
            return
        try:
            entry = registered_entry(self.settings.registry_url, record.document_unique_id,
                                     self._token())
        except (SoapClientError, RegistryRefused, TokenUnavailable) as exc:
            log.warning("cannot check %s in the registry: %s", record.document_unique_id, exc)
            return
        if entry is None or entry.status != Status.APPROVED:
            return
        record.entry_uuid = record.approved_entry_uuid = entry.entry_uuid
        if planned:
            record.state = PublishState.PUBLISHED
            record.published_at = records.now()
            record.error_code = record.error_context = None
        self._save(record)

    def _publish(self, study: StudyInfo, record: PublishedStudy | None) -> PublishState:
        digest = instances_hash(study)
        if (record is not None and record.state == PublishState.PUBLISHED
                and record.instances_hash == digest):
            return PublishState.PUBLISHED
        authority = study.issuer_of_patient_id or self.settings.local_patient_authority
        record = record or PublishedStudy(
            study_instance_uid=study.study_instance_uid, created_at=records.now(), attempts=0,
        )
        record.local_patient_id = study.patient_id
        record.local_authority = authority
        record.study_date = study.study_date
        record.accession_number = study.accession_number
        record.attempts = (record.attempts or 0) + 1
        if record.state == PublishState.DEPRECATED:
            record.approved_entry_uuid = None
        try:
            regional = identity.regional_patient_id(
                self._http, self.settings.identity_url, authority, study.patient_id,
                self._token(),
            )
        except identity.IdentityUnavailable as exc:
            return self._failed(record, "IdentityUnavailable", str(exc))
        except TokenUnavailable as exc:
            return self._failed(record, "TokenUnavailable", str(exc))
        if regional is None:
            record.state = PublishState.HELD_BACK
            record.error_code = record.error_context = None
            self._save(record)
            log.info("study %s held back: %s^^^&%s&ISO has no regional ID",
                     study.study_instance_uid, study.patient_id, authority)
            return PublishState.HELD_BACK

        kos_uid = generate_uid()
        record.regional_patient_id = regional
        record.kos_sop_instance_uid = record.document_unique_id = kos_uid
        record.entry_uuid = f"urn:uuid:{uuid.uuid4()}"
        record.instances_hash = digest
        record.instance_count = sum(len(s.instances) for s in study.series)
        record.state = PublishState.PENDING
        self._save(record)  # identifiers are kept before anything is sent

        moment = records.now()
        request = manifest.build(
            study, self.settings,
            ids=manifest.DocumentIds(
                kos_sop_instance_uid=kos_uid, kos_series_instance_uid=generate_uid(),
                entry_uuid=record.entry_uuid, submission_set_unique_id=generate_uid(),
            ),
            patient_id=regional, patient_id_authority=authority,
            replaces=record.approved_entry_uuid, now=moment,
        )
        try:
            RegistryRefused.check(soapclient.provide_and_register(
                self.settings.repository_url, request, token=self._token()))
        except TokenUnavailable as exc:
            return self._failed(record, "TokenUnavailable", str(exc))
        except RegistryRefused as exc:
            record_publish(self.audit, self.settings, record, moment,
                           EventOutcomeIndicator.MINOR_FAILURE)
            return self._failed(record, exc.code, exc.context)
        except SoapClientError as exc:
            return self._failed(record, _soap_code(exc), str(exc))
        record_publish(self.audit, self.settings, record, moment, EventOutcomeIndicator.SUCCESS)
        record.state = PublishState.PUBLISHED
        record.approved_entry_uuid = record.entry_uuid
        record.published_at = moment
        record.error_code = record.error_context = None
        self._save(record)
        log.info("study %s published as %s", study.study_instance_uid, record.entry_uuid)
        return PublishState.PUBLISHED

    def _withdraw(self, record: PublishedStudy) -> PublishState | None:
        """The study left the PACS: deprecate its Approved DocumentEntry (ITI-57)."""
        if record.state == PublishState.DEPRECATED:
            return PublishState.DEPRECATED
        if not record.approved_entry_uuid or not record.regional_patient_id:
            with self.db.session() as session:  # never reached the region: nothing to withdraw
                found = session.get(PublishedStudy, record.study_instance_uid)
                if found is not None:
                    session.delete(found)
            return None
        moment = records.now()
        profile = manifest.site_profile(self.settings, record.local_authority)
        request = deprecation(
            entry_uuid=record.approved_entry_uuid, patient_id=record.regional_patient_id,
            source_id=self.settings.site_oid, submission_set_unique_id=generate_uid(),
            submission_time=moment.strftime("%Y%m%d%H%M%S"),
            content_type_code=profile.content_type_code,
            author_institution=profile.author_institution,
        )
        try:
            RegistryRefused.check(soapclient.update_document_set(
                self.settings.registry_url, request, token=self._token()))
        except TokenUnavailable as exc:
            return self._failed(record, "TokenUnavailable", str(exc))
        except RegistryRefused as exc:
            record_publish(self.audit, self.settings, record, moment,
                           EventOutcomeIndicator.MINOR_FAILURE)
            return self._failed(record, exc.code, exc.context)
        except SoapClientError as exc:
            return self._failed(record, _soap_code(exc), str(exc))
        record_publish(self.audit, self.settings, record, moment, EventOutcomeIndicator.SUCCESS)
        record.state = PublishState.DEPRECATED
        record.approved_entry_uuid = None
        record.error_code = record.error_context = None
        self._save(record)
        log.info("study %s left the PACS: %s deprecated", record.study_instance_uid,
                 record.entry_uuid)
        return PublishState.DEPRECATED

    # -- bookkeeping ---------------------------------------------------------------------------
    def _failed(self, record: PublishedStudy, code: str, context: str) -> PublishState:
        record.state = PublishState.FAILED
        record.error_code, record.error_context = code, context
        self._save(record)
        log.warning("study %s failed: %s %s", record.study_instance_uid, code, context)
        return PublishState.FAILED

    def _save(self, record: PublishedStudy) -> None:
        with self.db.session() as session:
            records.save(session, record)


def _soap_code(exc: SoapClientError) -> str:
    if isinstance(exc, SoapFaultError):
        return exc.code or "SOAPFault"
    return "PeerUnavailable" if isinstance(exc, PeerUnavailable) else "SOAPError"
