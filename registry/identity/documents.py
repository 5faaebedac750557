"""Re-filing registry objects under a surviving patient after a merge.

After an A40 the registry must answer queries for the surviving ID with the subsumed patient's
documents (ITI TF-2a §3.8.4.2, ITI TF-1 XDS patient identity). The ``patient_id`` column and the
patientId ExternalIdentifier in the stored ebRIM XML must agree, or LeafClass answers would
contradict the query that found them; so both change, in the caller's transaction.
"""

from __future__ import annotations

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihe.ebrim.enum import Scheme
from ihe.namespaces import RIM, q
from ihe.xml import parse
from registry.models import RegistryObjectRow

PATIENT_ID_SCHEMES = frozenset({Scheme.DE_PATIENT_ID, Scheme.SS_PATIENT_ID, Scheme.FOL_PATIENT_ID})


def with_patient_id(xml: str, patient_id: str) -> str:
    """The object's XML with its patientId ExternalIdentifier set to ``patient_id``.

    Only identifiers of the three patientId schemes change; sourcePatientId and the rest of the
    document are kept byte for byte as lxml re-serialises them.
    """
    root = parse(xml.encode("utf-8"))
    for external in root.iter(q(RIM, "ExternalIdentifier")):
        if external.get("identificationScheme") in PATIENT_ID_SCHEMES:
            external.set("value", patient_id)
    return etree.tostring(root, encoding="utf-8").decode("utf-8")


def repoint_objects(session: Session, *, subsumed: str, surviving: str) -> int:
    """Move every object filed under ``subsumed`` to ``surviving``; return how many."""
    rows = session.scalars(
        select(RegistryObjectRow)
        .where(RegistryObjectRow.patient_id == subsumed)
        .order_by(RegistryObjectRow.id)
        .with_for_update()
    ).all()
    for row in rows:
        row.xml = with_patient_id(row.xml, surviving)
        row.patient_id = surviving
    return len(rows)
