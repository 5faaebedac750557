"""The Patient Identity Feed (ITI-8) consumer: one ADT message in, one acknowledgement out.

Which identifier is the patient: among the PID-3 repetitions, the one assigned by the regional
authority (``RegistrySettings.regional_authority``) is the regional ID and the others are the
site's local IDs, linked to it. A message without a regional ID may only update a patient that
one of its local IDs is already linked to; otherwise it is answered AE and nothing is written.
Each message is applied in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from partage.db import Database
from registry.identity import store
from registry.identity.cx import Cx
from registry.identity.hl7 import (
    AckCode,
    ErrorCode,
    Hl7Error,
    Location,
    MergeEvent,
    PatientEvent,
    build_ack,
    parse_adt,
    read_header,
)

log = logging.getLogger(__name__)

#: MSH-3 / MSH-4 of the acknowledgements
SENDER = ("PARTAGE_REGISTRY", "PARTAGE")


class AdtFeed:
    """Applies ADT messages to the cross-reference; ``handle`` never raises."""

    def __init__(
        self,
        db: Database,
        regional_authority: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.regional_authority = regional_authority
        self.clock = clock

    def handle(self, data: bytes) -> bytes:
        """The acknowledgement (bytes, same character set) of one message's bytes."""
        text, codec = decode(data)
        header = read_header(text)
        error: Hl7Error | None = None
        try:
            event = parse_adt(text)
            with self.db.session() as session:
                self.apply(session, event)
        except Hl7Error as exc:
            error = exc
        except (IntegrityError, OperationalError):
            log.warning("ADT message not applied: concurrent update", exc_info=True)
            error = Hl7Error(AckCode.ERROR, ErrorCode.RECORD_LOCKED, "concurrent update, resend")
        except Exception:
            log.exception("ADT message not applied")
            error = Hl7Error(AckCode.ERROR, ErrorCode.INTERNAL, "internal error")
        if error is not None:
            log.info(
                "ADT message refused",
                extra={"control_id": header.control_id if header else "", "reason": error.text},
            )
        ack = build_ack(
            header,
            error.ack if error else AckCode.ACCEPT,
            error=error,
            sender=SENDER,
            control_id=self.new_control_id(),
            now=self.clock(),
        )
        return ack.encode(codec, errors="replace")

    @staticmethod
    def new_control_id() -> str:
        """MSH-10 of an acknowledgement: unique, within the 20 characters of HL7 2.3.1 ST."""
        return uuid.uuid4().hex[:20]

    def apply(self, session: Session, event: PatientEvent | MergeEvent) -> None:
        """Write one parsed message; raise ``Hl7Error`` (and write nothing) when it cannot."""
        now = self.clock()
        patient_id = self._patient_of(session, event.identifiers, Location("PID", 3))
        try:
            store.upsert_patient(
                session, patient_id=patient_id, demographics=event.demographics, now=now
            )
        except store.InactivePatient as exc:
            raise Hl7Error(
                AckCode.ERROR, ErrorCode.UNKNOWN_KEY, str(exc), Location("PID", 3)
            ) from None
        for identifier in self._local(event.identifiers, patient_id):
            store.link_identifier(session, patient_id=patient_id, identifier=identifier)
        if not isinstance(event, MergeEvent):
            return
        subsumed = self._patient_of(session, event.prior, Location("MRG", 1))
        # the same regional patient on both sides: the site merged two of its own records
        if subsumed != patient_id:
            try:
                store.merge(session, surviving=patient_id, subsumed=subsumed, now=now)
            except store.IdentityError as exc:
                raise Hl7Error(
                    AckCode.ERROR, ErrorCode.UNKNOWN_KEY, str(exc), Location("MRG", 1)
                ) from None
        for identifier in self._local(event.prior, subsumed):
            store.link_identifier(session, patient_id=patient_id, identifier=identifier)

    def _patient_of(self, session: Session, identifiers: tuple[Cx, ...], where: Location) -> str:
        """The regional ID these identifiers name: the regional one, else a linked local one."""
        for identifier in identifiers:
            if identifier.authority == self.regional_authority:
                return identifier.key
        for identifier in identifiers:
            linked = store.resolve(session, identifier)
            if linked is not None:
                return linked
        raise Hl7Error(
            AckCode.ERROR,
            ErrorCode.UNKNOWN_KEY,
            f"no identifier of the regional authority {self.regional_authority} "
            "and no local identifier already linked to a regional patient",
            where,
        )

    def _local(self, identifiers: tuple[Cx, ...], patient_id: str) -> list[Cx]:
        """The site identifiers to link: neither regional nor the patient key itself."""
        return [
            i
            for i in identifiers
            if i.authority != self.regional_authority and i.key != patient_id
        ]


def decode(data: bytes) -> tuple[str, str]:
    """Message text and the codec to answer in: UTF-8 when valid, else ISO 8859-1 (the usual
    MSH-18 ``8859/1`` of French hospital systems)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"
