"""ADT messages of the Patient Identity Feed (ITI-8) in, HL7v2 acknowledgements out.

No I/O, no clock: ``parse_adt`` turns message text into a ``PatientEvent`` or ``MergeEvent`` or
raises ``Hl7Error`` carrying the acknowledgement code and the HL7 table 0357 error code the
sender must get back; ``build_ack`` writes that answer (original acknowledgement mode, ITI TF-2a
§3.8.4.1.3). The MSH header is read by hand so that even a message hl7apy cannot parse gets an
acknowledgement addressed to its sender with its control ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

from hl7apy import SUPPORTED_LIBRARIES
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Field, Message, Segment
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from registry.identity.cx import Cx, CxError
from registry.identity.store import Demographics

#: A01 admit, A04 register, A08 update, A28 add person, A31 update person
UPDATE_EVENTS = frozenset({"A01", "A04", "A08", "A28", "A31"})
MERGE_EVENT = "A40"
#: acknowledgements are written in the sender's version when hl7apy knows it
DEFAULT_VERSION = "2.5"
#: HL7 table 0001 administrative sex
SEXES = frozenset({"M", "F", "O", "U", "A", "N"})
_DATE = re.compile(r"\d{4}(\d{2}(\d{2})?)?")


class AckCode(StrEnum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


class ErrorCode(IntEnum):
    """HL7 table 0357, message error condition codes."""

    SEGMENT_SEQUENCE = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE = 102
    TABLE_VALUE_NOT_FOUND = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION = 203
    UNKNOWN_KEY = 204
    DUPLICATE_KEY = 205
    RECORD_LOCKED = 206
    INTERNAL = 207


ERROR_TEXT = {
    ErrorCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY: "Duplicate key identifier",
    ErrorCode.RECORD_LOCKED: "Application record locked",
    ErrorCode.INTERNAL: "Application internal error",
}


@dataclass(frozen=True)
class Location:
    """Where the error is (ERR-2 / ERR-1): segment ID, its sequence, field number."""

    segment: str
    field: int | None = None
    sequence: int = 1


class Hl7Error(Exception):
    """The message cannot be applied; ``ack`` and ``code`` say how to answer."""

    def __init__(
        self, ack: AckCode, code: ErrorCode, text: str, location: Location | None = None
    ) -> None:
        super().__init__(text)
        self.ack = ack
        self.code = code
        self.text = text
        self.location = location


@dataclass(frozen=True)
class Header:
    """The MSH fields an acknowledgement needs."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_type: str = ""
    event: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = ""


@dataclass(frozen=True)
class PatientEvent:
    """A01/A04/A08/A28/A31: the patient's PID-3 identifiers and demographics."""

    header: Header
    identifiers: tuple[Cx, ...]
    demographics: Demographics


@dataclass(frozen=True)
class MergeEvent:
    """A40: PID-3 names the survivor, MRG-1 the identifiers it subsumes."""

    header: Header
    identifiers: tuple[Cx, ...]
    demographics: Demographics
    prior: tuple[Cx, ...] = field(default=())


AdtEvent = PatientEvent | MergeEvent


def read_header(text: str) -> Header | None:
    """The MSH header of ``text``, or ``None`` when it does not start with one."""
    first = text.lstrip("\r\n").split("\r", 1)[0].split("\n", 1)[0]
    if not first.startswith("MSH") or len(first) < 8:
        return None
    separator, component = first[3], first[4]
    # echoed into the acknowledgement, whose delimiters are the standard ones
    values = [v.replace("|", "").replace("\\", "") for v in first.split(separator)]
    # values[0] is "MSH" and values[1] the encoding characters: MSH-n is values[n - 1]
    get = (lambda n: values[n - 1] if len(values) >= n else "")  # noqa: E731
    message_type = get(9).split(component)
    return Header(
        sending_application=get(3),
        sending_facility=get(4),
        receiving_application=get(5),
        receiving_facility=get(6),
        message_type=message_type[0],
        event=message_type[1] if len(message_type) > 1 else "",
        control_id=get(10),
        processing_id=get(11).split(component)[0] or "P",
        version=get(12).split(component)[0],
    )


def parse_adt(text: str) -> AdtEvent:
    """Read an ADT message of the identity feed; raise ``Hl7Error`` for anything else."""
    header = read_header(text)
    if header is None:
        raise Hl7Error(AckCode.REJECT, ErrorCode.SEGMENT_SEQUENCE, "message must start with MSH")
    if header.message_type != "ADT":
        raise Hl7Error(
            AckCode.REJECT,
            ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
            f"message type {header.message_type or '(none)'} is not accepted: ADT only",
            Location("MSH", 9),
        )
    if header.event not in UPDATE_EVENTS and header.event != MERGE_EVENT:
        raise Hl7Error(
            AckCode.REJECT,
            ErrorCode.UNSUPPORTED_EVENT,
            f"event {header.event or '(none)'} is not accepted: "
            + ", ".join(sorted(UPDATE_EVENTS | {MERGE_EVENT})),
            Location("MSH", 9),
        )
    if header.version not in SUPPORTED_LIBRARIES:
        raise Hl7Error(
            AckCode.REJECT,
            ErrorCode.UNSUPPORTED_VERSION,
            f"HL7 version {header.version or '(none)'} is not supported",
            Location("MSH", 12),
        )
    try:
        message = parse_message(
            text.replace("\n", "\r"),
            find_groups=False,
            validation_level=VALIDATION_LEVEL.TOLERANT,
        )
        pid = _segment(message, "PID")
        if pid is None:
            raise Hl7Error(
                AckCode.ERROR,
                ErrorCode.SEGMENT_SEQUENCE,
                "PID segment missing",
                Location("PID"),
            )
        identifiers = _identifiers(message, pid.pid_3, Location("PID", 3))
        demographics = _demographics(message, pid)
        if header.event != MERGE_EVENT:
            return PatientEvent(header, identifiers, demographics)
        mrg = _segment(message, "MRG")
        if mrg is None:
            raise Hl7Error(
                AckCode.ERROR, ErrorCode.SEGMENT_SEQUENCE, "MRG segment missing", Location("MRG")
            )
        prior = _identifiers(message, mrg.mrg_1, Location("MRG", 1))
        return MergeEvent(header, identifiers, demographics, prior)
    except HL7apyException as exc:
        raise Hl7Error(AckCode.REJECT, ErrorCode.DATA_TYPE, f"malformed message: {exc}") from None


def build_ack(
    header: Header | None,
    ack: AckCode,
    *,
    error: Hl7Error | None,
    sender: tuple[str, str],
    control_id: str,
    now: datetime,
) -> str:
    """The acknowledgement of a message with ``header`` (``None``: unreadable), as ER7 text.

    ``sender`` is this application's (MSH-3, MSH-4); the original sender becomes MSH-5/MSH-6.
    """
    header = header or Header()
    version = header.version if header.version in SUPPORTED_LIBRARIES else DEFAULT_VERSION
    msg = Message("ACK", version=version, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = msg.msh
    msh.msh_3 = escape(sender[0])
    msh.msh_4 = escape(sender[1])
    msh.msh_5 = header.sending_application
    msh.msh_6 = header.sending_facility
    msh.msh_7 = now.strftime("%Y%m%d%H%M%S")
    msh.msh_9 = f"ACK^{header.event}^ACK" if header.event else "ACK"
    msh.msh_10 = control_id
    msh.msh_11 = header.processing_id
    msh.msh_12 = version
    msg.msa.msa_1 = ack.value
    msg.msa.msa_2 = header.control_id
    if error is not None:
        msg.msa.msa_3 = escape(error.text[:80])
        _set_err(msg, error, version)
    return msg.to_er7()


def escape(text: str) -> str:
    """HL7 escape sequences for the standard delimiters (HL7 v2.5 §2.7.4)."""
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def unescape(text: str, encoding: str) -> str:
    """Resolve ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` and ``\\Xhh\\`` in a received value;
    ``encoding`` is MSH-2 (component, repetition, escape, subcomponent characters)."""
    component, repetition, esc, subcomponent = (encoding + "^~\\&")[:4]
    plain = {"F": "|", "S": component, "T": subcomponent, "R": repetition, "E": esc}

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in plain:
            return plain[code]
        if code.startswith("X"):
            try:
                return bytes.fromhex(code[1:]).decode("latin-1")
            except ValueError:
                return ""
        return ""  # formatting escapes (\H\, \N\, \.br\ …) carry no name characters

    return re.sub(re.escape(esc) + r"([^" + re.escape(esc) + r"]*)" + re.escape(esc), one, text)


def _segment(message: Message, name: str) -> Segment | None:
    for child in message.children:
        if child.name == name:
            return child
    return None


def _text(message: Message, element: object) -> str:
    er7 = element.to_er7() if element is not None else ""  # type: ignore[attr-defined]
    return unescape(er7, message.msh.msh_2.to_er7()).strip()


def _identifiers(message: Message, repetitions: list[Field], where: Location) -> tuple[Cx, ...]:
    """The CX repetitions of a field that carry an ISO assigning authority.

    Repetitions without one (a namespace only, a type code only) cannot be keyed and are
    left out; a field with none at all is an error.
    """
    found: list[Cx] = []
    for rep in repetitions:
        if not rep.to_er7():
            continue
        authority = rep.cx_4
        if _text(message, authority.hd_3) != "ISO":
            continue
        try:
            found.append(Cx(_text(message, rep.cx_1), _text(message, authority.hd_2)))
        except CxError as exc:
            raise Hl7Error(AckCode.ERROR, ErrorCode.DATA_TYPE, str(exc), where) from None
    if not found:
        raise Hl7Error(
            AckCode.ERROR,
            ErrorCode.REQUIRED_FIELD_MISSING,
            f"{where.segment}-{where.field} has no identifier with an ISO assigning authority",
            where,
        )
    return tuple(found)


def _demographics(message: Message, pid: Segment) -> Demographics:
    family = given = None
    names = pid.pid_5
    if names and names[0].to_er7():
        surname = names[0].xpn_1.to_er7().split(_subcomponent(message))[0]
        family = unescape(surname, message.msh.msh_2.to_er7()).strip() or None
        given = _text(message, names[0].xpn_2) or None
    birth = _text(message, pid.pid_7)[:8] or None
    if birth is not None and not _DATE.fullmatch(birth):
        raise Hl7Error(
            AckCode.ERROR,
            ErrorCode.DATA_TYPE,
            f"PID-7 birth date {birth!r} is not YYYY[MM[DD]]",
            Location("PID", 7),
        )
    sex = _text(message, pid.pid_8) or None
    if sex is not None and sex not in SEXES:
        raise Hl7Error(
            AckCode.ERROR,
            ErrorCode.TABLE_VALUE_NOT_FOUND,
            f"PID-8 sex {sex!r} is not in HL7 table 0001",
            Location("PID", 8),
        )
    return Demographics(family_name=family, given_name=given, birth_date=birth, sex=sex)


def _subcomponent(message: Message) -> str:
    return (message.msh.msh_2.to_er7() + "^~\\&")[3]


def _set_err(msg: Message, error: Hl7Error, version: str) -> None:
    """ERR-1 (HL7 up to 2.4) or ERR-2/3/4/8 (2.5 and later)."""
    loc = error.location
    code = f"{error.code.value}^{ERROR_TEXT[error.code]}^HL70357"
    where = ""
    if loc is not None:
        where = f"{loc.segment}^{loc.sequence}^{loc.field if loc.field is not None else ''}"
    if version in {"2.1", "2.2", "2.3", "2.3.1", "2.4"}:
        msg.err.err_1 = f"{where or '^^'}^{code.replace('^', '&')}"
        return
    if where:
        msg.err.err_2 = where
    msg.err.err_3 = code
    msg.err.err_4 = "E"
    msg.err.err_8 = escape(error.text)
