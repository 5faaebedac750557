"""Store one received audit message: parse it (hardened parser), index it, keep it once."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consent.audit.models import AuditRecord, AuditStudy
from ihe.atna import AuditMessage
from ihe.atna.enum import PATIENT_NUMBER, STUDY_INSTANCE_UID
from ihe.errors import XmlSecurityError

#: The largest audit message accepted, over any transport.
MAX_BYTES = 1024 * 1024


def ingest(session: Session, xml: bytes, *, transport: str,
           now: datetime | None = None) -> AuditRecord:
    """Parse and store ``xml``; the already stored record if these bytes came before.

    Raises ``ihe.errors.RemoteProtocolError`` (``XmlSecurityError`` for DTDs and entities)
    before anything is written."""
    if len(xml) > MAX_BYTES:
        raise XmlSecurityError(f"audit message larger than {MAX_BYTES} bytes")
    message = AuditMessage.from_bytes(xml)
    digest = hashlib.sha256(xml).hexdigest()
    found = session.scalar(select(AuditRecord).where(AuditRecord.digest == digest))
    if found is not None:
        return found
    record = _record(message, xml, digest, transport, now or datetime.now(UTC))
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:  # the same bytes stored meanwhile by another connection
        return session.scalars(select(AuditRecord).where(AuditRecord.digest == digest)).one()
    return record


def _record(message: AuditMessage, xml: bytes, digest: str, transport: str,
            now: datetime) -> AuditRecord:
    user, event = message.requestor, message.event
    patients = message.object_ids(PATIENT_NUMBER)
    studies = dict.fromkeys(uid[:64] for uid in message.object_ids(STUDY_INSTANCE_UID))
    return AuditRecord(
        digest=digest, received_at=now, transport=transport,
        event_time=event.date_time.astimezone(UTC), event_id=event.event_id[0],
        event_type=event.type_codes[0][0] if event.type_codes else "",
        action=event.action.value, outcome=int(event.outcome),
        user_id=user.user_id[:256], user_name=user.user_name[:256],
        rpps=user.alternative_id[:64], organisation=user.organisation[:256],
        patient_id=patients[0][:256] if patients else "",
        site=(message.source.site or message.source.source_id)[:256],
        purpose=event.purposes[0][0] if event.purposes else "",
        emergency=message.emergency, emergency_reason=message.emergency_reason[:2000],
        xml=xml, studies=[AuditStudy(study_uid=uid) for uid in studies])
