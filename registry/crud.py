"""Reading and writing registry rows (``registry.models``) from and to ebRIM objects.

Storage contract, shared with the stored-query engine:

* one ``registry_objects`` row per DocumentEntry (``kind='doc'``), SubmissionSet (``'ss'``),
  Folder (``'fol'``) and Association (``'assoc'``, ``patient_id`` NULL);
* ``xml`` is the canonical ebRIM XML of the object after symbolic-id resolution, without its
  ``status`` attribute: availabilityStatus lives in the ``status`` column (full URN);
* times are 14-digit padded DTM strings (``ihe.ebrim.dtm.pad``);
* coded and multi-valued attributes are indexed in ``object_codes`` (see ``code_index``).

Nothing here validates: ``registry.submission`` checks a submission fully before calling in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    ColumnElement,
    CompoundSelect,
    Connection,
    Table,
    and_,
    any_,
    bindparam,
    cast,
    insert,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from ihe.ebrim import Association, ExtrinsicObject, RegistryObject, RegistryPackage, Scheme
from ihe.ebrim.dtm import is_dtm, pad
from ihe.ebrim.enum import REFERENCE_ID_SLOT, AssociationType, Status
from ihe.ebrim.text import object_text
from ihe.namespaces import RIM
from ihe.xml import parse
from registry.models import ObjectCode, Patient, RegistryObjectRow

DOCUMENT = "doc"
SUBMISSION_SET = "ss"
FOLDER = "fol"
ASSOCIATION = "assoc"

StoredObject = ExtrinsicObject | RegistryPackage | Association

#: classification scheme → ``object_codes.attribute`` (the stored-query names)
CODED_ATTRIBUTES: dict[str, str] = {
    Scheme.DE_CLASS_CODE: "classCode",
    Scheme.DE_TYPE_CODE: "typeCode",
    Scheme.DE_FORMAT_CODE: "formatCode",
    Scheme.DE_PRACTICE_SETTING_CODE: "practiceSettingCode",
    Scheme.DE_HEALTHCARE_FACILITY_TYPE_CODE: "healthcareFacilityTypeCode",
    Scheme.DE_EVENT_CODE: "eventCode",
    Scheme.DE_CONFIDENTIALITY_CODE: "confidentialityCode",
    Scheme.SS_CONTENT_TYPE_CODE: "contentTypeCode",
    Scheme.FOL_CODE_LIST: "folderCode",
}
AUTHOR_SCHEMES = frozenset({Scheme.DE_AUTHOR, Scheme.SS_AUTHOR})
LAST_UPDATE_TIME = "lastUpdateTime"

_READERS: dict[str, type[StoredObject]] = {
    DOCUMENT: ExtrinsicObject,
    SUBMISSION_SET: RegistryPackage,
    FOLDER: RegistryPackage,
    ASSOCIATION: Association,
}


# -- objects ↔ rows ---------------------------------------------------------------------------
def kind_of(obj: StoredObject) -> str:
    if isinstance(obj, ExtrinsicObject):
        return DOCUMENT
    if isinstance(obj, Association):
        return ASSOCIATION
    return SUBMISSION_SET if obj.is_submission_set else FOLDER


def object_xml(obj: StoredObject) -> str:
    """The canonical XML of ``obj`` as stored: UTF-8 text, without the status attribute (what
    lxml writes for ``to_element``, written directly by ``ihe.ebrim.text``)."""
    return object_text(obj, status=False)


def stored_object(kind: str, xml: str, status: str) -> StoredObject:
    """The object stored as ``xml`` (a row of ``kind``) with availabilityStatus ``status``."""
    obj = _READERS[kind].from_element(parse(xml.encode("utf-8")))
    obj.status = status
    return obj


def row_to_object(row: RegistryObjectRow) -> StoredObject:
    """The stored object of ``row`` with its current availabilityStatus applied."""
    return stored_object(row.kind, row.xml, row.status)


#: how ``object_xml`` opens every object: lxml names the one namespace of an element built
#: without a namespace map ``ns0`` and declares it on the root
_STORED_PREFIX = "ns0"
_STORED_DECLARATION = f' xmlns:{_STORED_PREFIX}="{RIM}"'
#: attributes ``to_element`` writes after ``status`` (``_Object._write_common`` order)
_AFTER_STATUS = (' home="', ' associationType="')
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
     "\t": "&#9;"}
)


def answer_xml(xml: str, status: str, prefix: str = "rim") -> str | None:
    """The stored ``xml`` as ``to_element`` of its object with availabilityStatus ``status``
    serialises inside a parent that declares the rim namespace as ``prefix``: the same text as
    ``row_to_object`` then ``to_element`` would give, without the round trip through the
    dataclasses (LeafClass answers are made of these; ``answer_xml_many`` for many at once).

    ``None`` when ``xml`` is not in the form ``object_xml`` writes (then the caller takes the
    round trip): the rim namespace in the ``ns0`` prefix, declared once on the root and no
    other namespace declared anywhere.
    """
    return answer_xml_many([(xml, status)], prefix)


def answer_xml_many(stored: list[tuple[str, str]], prefix: str = "rim") -> str | None:
    """``answer_xml`` of each ``(xml, status)``, concatenated; ``None`` if any is not in
    ``object_xml``'s form. The scans over the text (namespace declarations, prefixes) run once
    over the whole answer rather than once per object."""
    parts: list[str] = []
    for xml, status in stored:
        head = _with_status(xml, status)
        if head is None:
            return None
        parts.extend(head)
    text = "".join(parts)
    if "xmlns" in text:  # a declaration besides the roots' (removed above)
        return None
    opened, closed = f"<{_STORED_PREFIX}:", f"</{_STORED_PREFIX}:"
    return text.replace(opened, f"<{prefix}:").replace(closed, f"</{prefix}:")


def _with_status(xml: str, status: str) -> tuple[str, str, str, str] | None:
    """``xml`` in pieces without its root's namespace declaration and with ``status`` where
    ``to_element`` writes it; ``None`` unless ``xml`` opens as ``object_xml`` writes."""
    name_end = xml.find(" ")
    if (
        name_end < 0
        or not xml.startswith(f"<{_STORED_PREFIX}:")
        or not xml.startswith(_STORED_DECLARATION, name_end)
    ):
        return None
    start_end = xml.find(">")  # ">" is escaped in attribute values
    if start_end < 0:
        return None
    if xml[start_end - 1] == "/":
        start_end -= 1
    at = min((i for mark in _AFTER_STATUS if 0 < (i := xml.find(mark, 0, start_end))),
             default=start_end)
    status_attribute = f' status="{status.translate(_ATTRIBUTE_ESCAPES)}"' if status else ""
    return (xml[:name_end], xml[name_end + len(_STORED_DECLARATION):at], status_attribute,
            xml[at:])


def _dtm(value: str | None) -> str | None:
    return pad(value) if value and is_dtm(value.strip()[:14]) else None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def code_index(obj: RegistryObject) -> list[tuple[str, str, str]]:
    """``(attribute, code, scheme)`` rows of ``object_codes`` for ``obj``."""
    out: list[tuple[str, str, str]] = []
    for c in obj.classifications:
        scheme = c.classification_scheme or ""
        if scheme in CODED_ATTRIBUTES and c.node_representation is not None:
            out.append((CODED_ATTRIBUTES[scheme], c.node_representation, c.coding_scheme or ""))
        elif scheme in AUTHOR_SCHEMES:
            out.extend(("authorPerson", person, "") for person in c.slot_values("authorPerson"))
    if isinstance(obj, ExtrinsicObject):
        out.extend(("referenceId", ref, "") for ref in obj.slot_values(REFERENCE_ID_SLOT))
    return out


def _columns(obj: StoredObject) -> dict[str, object]:
    if isinstance(obj, ExtrinsicObject):
        return {
            "unique_id": obj.unique_id,
            "patient_id": obj.patient_id,
            "object_type": obj.object_type,
            "mime_type": obj.mime_type,
            "hash": (obj.slot_value("hash") or "").lower() or None,
            "size": _int(obj.slot_value("size")),
            "repository_unique_id": obj.slot_value("repositoryUniqueId"),
            "creation_time": _dtm(obj.slot_value("creationTime")),
            "service_start_time": _dtm(obj.slot_value("serviceStartTime")),
            "service_stop_time": _dtm(obj.slot_value("serviceStopTime")),
        }
    if isinstance(obj, Association):
        return {
            "association_type": obj.association_type,
            "source_uuid": obj.source_object,
            "target_uuid": obj.target_object,
        }
    if obj.is_submission_set:
        return {
            "unique_id": obj.external_id(Scheme.SS_UNIQUE_ID),
            "patient_id": obj.external_id(Scheme.SS_PATIENT_ID),
            "source_id": obj.external_id(Scheme.SS_SOURCE_ID),
            "submission_time": _dtm(obj.slot_value("submissionTime")),
        }
    return {
        "unique_id": obj.external_id(Scheme.FOL_UNIQUE_ID),
        "patient_id": obj.external_id(Scheme.FOL_PATIENT_ID),
        "last_update_time": _dtm(obj.slot_value(LAST_UPDATE_TIME)),
    }


def row_values(obj: StoredObject, *, status: str, xml: str | None = None) -> dict[str, object]:
    """Every ``registry_objects`` column of ``obj`` but ``id`` (ids already resolved to
    ``urn:uuid:``): identity, ``status``, canonical XML (``object_xml(obj)`` unless given, as
    the bulk loader does from templates) and the indexed columns, unused ones ``None``."""
    return {
        "entry_uuid": obj.id,
        "kind": kind_of(obj),
        "logical_id": obj.lid or obj.id,
        "status": status,
        "xml": object_xml(obj) if xml is None else xml,
        **_NO_COLUMNS,
        **_columns(obj),
    }


_OBJECTS = RegistryObjectRow.__table__
_CODES = ObjectCode.__table__
#: every optional column, so all rows of one multi-row INSERT have the same keys
_NO_COLUMNS: dict[str, object] = dict.fromkeys(
    c.name for c in _OBJECTS.columns
    if c.name not in {"id", "entry_uuid", "kind", "logical_id", "status", "xml"}
)


def add_objects(session: Session, objects: list[StoredObject], *, status: str) -> list[int]:
    """Insert ``objects`` (ids already resolved to ``urn:uuid:``) with their code index; the
    new rows' ids ascend in list order (answers keep submission order). Returns those ids.
    Inside the caller's transaction: a failure leaves nothing once it is rolled back."""
    if not objects:
        return []
    rows = [row_values(obj, status=status) for obj in objects]
    codes = [(obj.id, *code) for obj in objects for code in code_index(obj)]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        ids = _insert_postgresql(connection, rows, codes)
    else:
        ids = _insert_values(session, rows, codes)
    if len(ids) != len(rows):
        raise RuntimeError(f"inserted {len(ids)} rows for {len(rows)} objects")
    return ids


def _insert_values(session: Session, rows: list[dict[str, object]],
                   codes: list[tuple[str, str, str, str]]) -> list[int]:
    """Any backend: SQLAlchemy's multi-row INSERT … RETURNING (ids in parameter order), then
    the codes."""
    result = session.execute(
        insert(_OBJECTS).returning(_OBJECTS.c.id, sort_by_parameter_order=True), rows
    )
    ids = list(result.scalars())
    row_id = dict(zip((row["entry_uuid"] for row in rows), ids))
    if codes:
        session.execute(insert(_CODES), [
            {"object_id": row_id[owner], "attribute": attribute, "code": code, "scheme": scheme}
            for owner, attribute, code, scheme in codes
        ])
    return ids


def _insert_postgresql(connection: Connection, rows: list[dict[str, object]],
                       codes: list[tuple[str, str, str, str]]) -> list[int]:
    """PostgreSQL, on the session's own psycopg connection (same transaction): objects and
    codes in one statement (``_INSERT_ALL``), whatever their number, one array per column
    sent in binary (no escaping of the XML in Python). The statement's text never changes,
    so psycopg prepares it once per connection."""
    params: dict[str, list[object]] = {name: [row[name] for row in rows] for name in _ROW_NAMES}
    params.update(zip(_CODE_PARAMETERS, map(list, zip(*codes)), strict=True) if codes
                  else dict.fromkeys(_CODE_PARAMETERS, []))
    with _driver_errors(_INSERT_ALL), connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(_INSERT_ALL, params)
        found = dict(cursor.fetchall())
    return [found[row["entry_uuid"]] for row in rows if row["entry_uuid"] in found]


@contextmanager
def _driver_errors(statement: str) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy raises them (``IntegrityError``, ``DataError``
    …), as for every other statement of the session: the callers handle those."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


_ROW_NAMES = tuple(c.name for c in _OBJECTS.columns if c.name != "id")
#: the code rows' parameters: owner is the object's entryUUID (its row id is not known yet)
_CODE_PARAMETERS = ("code_owner", "code_attribute", "code_value", "code_scheme")


def _array(table: Table, column: str, parameter: str) -> str:
    """A psycopg binary parameter cast to an array of ``column``'s type."""
    sql_type = table.c[column].type.compile(dialect=postgresql.dialect())
    return f"CAST(%({parameter})b AS {sql_type.split('(')[0]}[])"


def _insert_all() -> str:
    """One PostgreSQL statement for a whole submission: the objects from one array per column
    (``unnest … WITH ORDINALITY … ORDER BY``, so ids are drawn in list order), then their
    codes joined to the new rows by entryUUID; answers ``(entryUUID, id)`` of each object."""
    listed = ", ".join(_ROW_NAMES)
    objects = ", ".join(_array(_OBJECTS, name, name) for name in _ROW_NAMES)
    owner, *values = _CODE_PARAMETERS
    codes = ", ".join([
        _array(_OBJECTS, "entry_uuid", owner),
        *(_array(_CODES, column, parameter)
          for column, parameter in zip(("attribute", "code", "scheme"), values, strict=True)),
    ])
    return (
        f"WITH new AS (INSERT INTO {_OBJECTS.name} ({listed}) SELECT {listed} FROM unnest("
        f"{objects}) WITH ORDINALITY AS incoming ({listed}, ordinal) ORDER BY ordinal "
        f"RETURNING entry_uuid, id), "
        f"coded AS (INSERT INTO {_CODES.name} (object_id, attribute, code, scheme) "
        f"SELECT new.id, incoming.attribute, incoming.code, incoming.scheme FROM unnest({codes}) "
        f"WITH ORDINALITY AS incoming (owner, attribute, code, scheme, ordinal) "
        f"JOIN new ON new.entry_uuid = incoming.owner ORDER BY incoming.ordinal) "
        f"SELECT entry_uuid, id FROM new"
    )


_INSERT_ALL = _insert_all()


def add_object(session: Session, obj: StoredObject, *, status: str) -> int:
    """Insert one object (see ``add_objects``); its row id."""
    return add_objects(session, [obj], status=status)[0]


def set_status(row: RegistryObjectRow, status: str) -> None:
    row.status = status


def touch_folder(row: RegistryObjectRow, when: str) -> None:
    """Set a Folder's lastUpdateTime (ITI TF-3 §4.2.3.4.5) in the column and the stored XML."""
    folder = row_to_object(row)
    folder.set_slot(LAST_UPDATE_TIME, [when])
    row.last_update_time = pad(when)
    row.xml = object_xml(folder)


# -- lookups ----------------------------------------------------------------------------------
def rows_by_uuid(session: Session, uuids: Iterable[str]) -> dict[str, RegistryObjectRow]:
    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    rows = session.scalars(
        select(RegistryObjectRow).where(RegistryObjectRow.entry_uuid.in_(wanted))
    )
    return {row.entry_uuid: row for row in rows}


def rows_by_unique_id(
    session: Session, kind: str, unique_ids: Iterable[str]
) -> list[RegistryObjectRow]:
    wanted = sorted(set(unique_ids))
    if not wanted:
        return []
    return list(
        session.scalars(
            select(RegistryObjectRow)
            .where(RegistryObjectRow.kind == kind, RegistryObjectRow.unique_id.in_(wanted))
            .order_by(RegistryObjectRow.id)
        )
    )


class Known(NamedTuple):
    """What the registration checks read of an object already registered (no XML)."""

    id: int
    entry_uuid: str
    kind: str
    status: str
    patient_id: str | None
    logical_id: str | None


class Registered(NamedTuple):
    """An object already registered under a uniqueId a submission uses."""

    kind: str
    unique_id: str
    hash: str | None
    size: int | None


@dataclass(frozen=True)
class Existing:
    """What the checks of one submission need to know of the registry: the objects already
    registered among the entryUUIDs asked (by entryUUID), those registered under the
    uniqueIds asked (by kind, in registration order), and whether the patient asked is known,
    active and not merged away."""

    objects: dict[str, Known]
    unique_ids: dict[str, list[Registered]]
    patient_active: bool


def _among(column: InstrumentedAttribute[Any], name: str, on_postgresql: bool
           ) -> ColumnElement[bool]:
    """``column`` is one of the list parameter ``name``: on PostgreSQL ``= ANY`` of one array
    parameter, so the statement's text is the same whatever the count (psycopg prepares it
    once per connection); elsewhere an expanding IN."""
    if on_postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _existing_statement(on_postgresql: bool) -> CompoundSelect[Any]:
    """``existing``'s one statement: object rows by entryUUID (part 0), by kind and uniqueId
    (part 1), and the patient's state (part 2), one result in part order."""
    r = RegistryObjectRow
    columns = (r.id, r.entry_uuid, r.kind, r.status, r.patient_id, r.logical_id, r.unique_id,
               r.hash, r.size)
    part = literal_column("0").label("part"), literal_column("1"), literal_column("2")
    no_state = cast(null(), Boolean)  # typed: PostgreSQL matches UNION columns pairwise
    return union_all(
        select(part[0], *columns, no_state.label("active"))
        .where(_among(r.entry_uuid, "uuids", on_postgresql)),
        select(part[1], *columns, no_state)
        .where(_among(r.kind, "kinds", on_postgresql),
               _among(r.unique_id, "unique_ids", on_postgresql)),
        select(part[2], *(null() for _ in columns),
               and_(Patient.active, Patient.merged_into.is_(None)))
        .where(Patient.patient_id == bindparam("patient_id")),
    ).order_by(literal_column("part"), literal_column("id"))


#: by "is PostgreSQL": built once, the statement's compiled form is cached
_EXISTING = {on_postgresql: _existing_statement(on_postgresql) for on_postgresql in (True, False)}


def existing(
    session: Session, *, uuids: Iterable[str], unique_ids: dict[str, Iterable[str]],
    patient_id: str | None,
) -> Existing:
    """What the registry holds of ``uuids`` (entryUUIDs), ``unique_ids`` (kind → uniqueIds)
    and ``patient_id``, in one statement (one round trip) whatever their number."""
    wanted = list(set(uuids))
    by_kind = {kind: set(uids) for kind, uids in unique_ids.items()}
    every = list(set().union(*by_kind.values()))
    objects: dict[str, Known] = {}
    registered: dict[str, list[Registered]] = {kind: [] for kind in by_kind}
    patient_active = False
    if not wanted and not every and not patient_id:
        return Existing(objects, registered, patient_active)
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    rows = session.execute(_EXISTING[on_postgresql], {
        "uuids": wanted, "kinds": list(by_kind), "unique_ids": every, "patient_id": patient_id,
    })
    for part, *values, active in rows:
        if part == 0:
            known = Known(*values[:6])
            objects[known.entry_uuid] = known
        elif part == 1:
            found = Registered(kind=values[2], unique_id=values[6], hash=values[7],
                               size=values[8])
            if found.unique_id in by_kind[found.kind]:
                registered[found.kind].append(found)
        else:
            patient_active = bool(active)
    return Existing(objects, registered, patient_active)


def folders_of(session: Session, document_uuid: str) -> list[RegistryObjectRow]:
    """The Folders ``document_uuid`` is an approved member of (Folder→DE HasMember)."""
    folder = aliased(RegistryObjectRow)
    assoc = aliased(RegistryObjectRow)
    return list(
        session.scalars(
            select(folder)
            .join(assoc, assoc.source_uuid == folder.entry_uuid)
            .where(
                folder.kind == FOLDER,
                assoc.kind == ASSOCIATION,
                assoc.association_type == AssociationType.HAS_MEMBER,
                assoc.target_uuid == document_uuid,
                assoc.status == Status.APPROVED,
            )
            .order_by(folder.id)
        )
    )


def related_documents(
    session: Session, target_uuid: str, association_types: Iterable[str]
) -> list[RegistryObjectRow]:
    """DocumentEntries linked to ``target_uuid`` by approved associations of the given types
    (the addenda and transforms of an original, ITI TF-3 §4.2.2.2)."""
    doc = aliased(RegistryObjectRow)
    assoc = aliased(RegistryObjectRow)
    return list(
        session.scalars(
            select(doc)
            .join(assoc, assoc.source_uuid == doc.entry_uuid)
            .where(
                doc.kind == DOCUMENT,
                assoc.kind == ASSOCIATION,
                assoc.association_type.in_(sorted(set(association_types))),
                assoc.target_uuid == target_uuid,
                assoc.status == Status.APPROVED,
            )
            .order_by(doc.id)
        )
    )


def is_latest_version(session: Session, row: Known) -> bool:
    """No later row shares ``row``'s logicalId (ITI TF-3 §4.1.12 metadata versioning)."""
    later = session.scalar(
        select(RegistryObjectRow.id).where(
            RegistryObjectRow.logical_id == row.logical_id, RegistryObjectRow.id > row.id
        ).limit(1)
    )
    return later is None
