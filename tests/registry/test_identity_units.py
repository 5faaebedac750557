"""The pure parts of patient identity: CX keys, name folding, ADT parsing and ACKs, MLLP
framing, and re-filing ebRIM XML under a surviving patient."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

import pytest
from lxml import etree

from ihe.ebrim.enum import Scheme
from registry.identity.cx import Cx, CxError, parse_key
from registry.identity.documents import with_patient_id
from registry.identity.hl7 import (
    AckCode,
    ErrorCode,
    Hl7Error,
    MergeEvent,
    PatientEvent,
    build_ack,
    parse_adt,
    read_header,
)
from registry.identity.mllp import FrameReader, FrameTooLarge, frame
from registry.identity.names import fold

INS = "1.2.250.1.213.1.4.10"
SITE = "1.2.250.1.999.2.1"
NOW = datetime(2024, 3, 1, 10, 30, tzinfo=UTC)


def adt(event: str, pid3: str, *, version: str = "2.5", extra: str = "", name: str = "") -> str:
    structure = {"A40": "ADT_A39", "A28": "ADT_A05", "A31": "ADT_A05"}.get(event, "ADT_A01")
    return "\r".join(
        [
            f"MSH|^~\\&|RIS|CHU-A|PARTAGE|REGION|20240301103000||ADT^{event}^{structure}|"
            f"CTRL-{event}|P|{version}",
            f"EVN|{event}|20240301103000",
            f"PID|||{pid3}||{name or 'LEFÈVRE^Zoé'}||19801205|F",
            *([extra] if extra else []),
        ]
    ) + "\r"


def test_cx_key_is_strict_and_normalised() -> None:
    assert parse_key(f"2801205123456^^^&{INS}&ISO") == Cx("2801205123456", INS)
    assert Cx("42", SITE).key == f"42^^^&{SITE}&ISO"
    for bad in [
        "2801205123456",
        f"2801205123456^^^&{INS}",
        f"2801205123456^^^NS&{INS}&ISO^PI",
        f"^^^&{INS}&ISO",
        "1^^^&not.an.oid&ISO",
        "1^^^&1.02.3&ISO",
    ]:
        with pytest.raises(CxError):
            parse_key(bad)
    with pytest.raises(CxError):
        Cx("a|b", SITE)


def test_fold_ignores_case_accents_and_separators() -> None:
    assert fold("LEFÈVRE") == "lefevre"
    assert fold("  Zoé-Œnone d'Arc ") == "zoe oenone d arc"
    assert fold("Straße") == "strasse"


def test_parse_patient_event_takes_identifiers_and_demographics() -> None:
    event = parse_adt(
        adt("A04", f"2801205123456^^^&{INS}&ISO~IPP1^^^CHU-A&{SITE}&ISO^PI~NOAUTH^^^CHU-A")
    )
    assert isinstance(event, PatientEvent)
    assert event.identifiers == (Cx("2801205123456", INS), Cx("IPP1", SITE))
    assert event.demographics.family_name == "LEFÈVRE"
    assert event.demographics.given_name == "Zoé"
    assert event.demographics.birth_date == "19801205"
    assert event.demographics.sex == "F"
    assert event.header.control_id == "CTRL-A04"


def test_parse_unescapes_names() -> None:
    event = parse_adt(adt("A08", f"1^^^&{INS}&ISO", name="O\\S\\BRIEN^Ann\\T\\Marie"))
    assert event.demographics.family_name == "O^BRIEN"
    assert event.demographics.given_name == "Ann&Marie"


def test_parse_merge_event() -> None:
    event = parse_adt(adt("A40", f"1^^^&{INS}&ISO", extra=f"MRG|2^^^&{INS}&ISO", version="2.3.1"))
    assert isinstance(event, MergeEvent)
    assert event.prior == (Cx("2", INS),)


@pytest.mark.parametrize(
    ("text", "ack", "code"),
    [
        ("garbage", AckCode.REJECT, ErrorCode.SEGMENT_SEQUENCE),
        (
            "MSH|^~\\&|LAB|X|PARTAGE|R|2024||ORU^R01|9|P|2.5\rPID|||1^^^&1.2.3&ISO\r",
            AckCode.REJECT,
            ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
        ),
        (adt("A03", f"1^^^&{INS}&ISO"), AckCode.REJECT, ErrorCode.UNSUPPORTED_EVENT),
        (
            adt("A04", f"1^^^&{INS}&ISO", version="9.9"),
            AckCode.REJECT,
            ErrorCode.UNSUPPORTED_VERSION,
        ),
        (adt("A04", "1^^^CHU-A^PI"), AckCode.ERROR, ErrorCode.REQUIRED_FIELD_MISSING),
        (adt("A04", "1^^^&1.2.x&ISO"), AckCode.ERROR, ErrorCode.DATA_TYPE),
        (adt("A40", f"1^^^&{INS}&ISO"), AckCode.ERROR, ErrorCode.SEGMENT_SEQUENCE),
    ],
)
def test_parse_refusals(text: str, ack: AckCode, code: ErrorCode) -> None:
    with pytest.raises(Hl7Error) as caught:
        parse_adt(text)
    assert (caught.value.ack, caught.value.code) == (ack, code)


def test_parse_refuses_bad_birth_date_and_sex() -> None:
    bad_date = adt("A04", f"1^^^&{INS}&ISO").replace("19801205", "1980-12")
    with pytest.raises(Hl7Error) as caught:
        parse_adt(bad_date)
    assert caught.value.code == ErrorCode.DATA_TYPE
    bad_sex = adt("A04", f"1^^^&{INS}&ISO").replace("19801205|F", "19801205|Q")
    with pytest.raises(Hl7Error) as caught:
        parse_adt(bad_sex)
    assert caught.value.code == ErrorCode.TABLE_VALUE_NOT_FOUND


def test_ack_addresses_sender_and_carries_err_per_version() -> None:
    text = adt("A01", f"1^^^&{INS}&ISO", version="2.3.1")
    error = Hl7Error(AckCode.ERROR, ErrorCode.UNKNOWN_KEY, "no | regional id")
    ack = build_ack(
        read_header(text), AckCode.ERROR, error=error, sender=("REG", "R"), control_id="A1", now=NOW
    )
    segments = ack.split("\r")
    msh = segments[0].split("|")
    assert msh[2:6] == ["REG", "R", "RIS", "CHU-A"]
    assert msh[8] == "ACK^A01^ACK" and msh[9] == "A1" and msh[11] == "2.3.1"
    assert segments[1] == "MSA|AE|CTRL-A01|no \\F\\ regional id"
    assert segments[2].startswith("ERR|^^^204&Unknown key identifier&HL70357")

    ack25 = build_ack(
        read_header(adt("A01", "x", version="2.5")),
        AckCode.ERROR,
        error=error,
        sender=("REG", "R"),
        control_id="A2",
        now=NOW,
    )
    err = ack25.split("\r")[2].split("|")
    assert err[3] == "204^Unknown key identifier^HL70357" and err[4] == "E"


def test_ack_of_unreadable_message() -> None:
    ack = build_ack(None, AckCode.REJECT, error=None, sender=("REG", "R"), control_id="A", now=NOW)
    assert ack.split("\r")[1] == "MSA|AR|"


def test_frame_reader_splits_drops_and_bounds() -> None:
    reader = FrameReader(max_bytes=2048)
    assert reader.feed(b"noise" + frame(b"one")[:3]) == []
    assert reader.feed(frame(b"one")[3:] + frame(b"two") + b"\x0bthr") == [b"one", b"two"]
    assert reader.feed(b"ee\x1c") == []
    assert reader.feed(b"\x0d") == [b"three"]
    assert reader.dropped == 5
    with pytest.raises(FrameTooLarge) as caught:
        reader.feed(b"\x0bMSH|" + b"x" * 3000)
    assert caught.value.head.startswith(b"MSH|")
    assert reader.feed(frame(b"after")) == [b"after"]


def ebrim_document(patient_id: str) -> str:
    rim = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
    return (
        f'<rim:ExtrinsicObject xmlns:rim="{rim}" id="urn:uuid:d1" objectType="x">'
        f'<rim:Slot name="sourcePatientId"><rim:ValueList><rim:Value>IPP1^^^&amp;{SITE}&amp;ISO'
        f"</rim:Value></rim:ValueList></rim:Slot>"
        f'<rim:ExternalIdentifier id="urn:uuid:e1" registryObject="urn:uuid:d1" '
        f'identificationScheme="{Scheme.DE_PATIENT_ID}" value="{escape(patient_id)}"/>'
        f'<rim:ExternalIdentifier id="urn:uuid:e2" registryObject="urn:uuid:d1" '
        f'identificationScheme="{Scheme.DE_UNIQUE_ID}" value="1.2.3.4"/>'
        f"</rim:ExtrinsicObject>"
    )


def test_with_patient_id_rewrites_only_the_patient_id() -> None:
    old, new = f"2^^^&{INS}&ISO", f"1^^^&{INS}&ISO"
    rewritten = etree.fromstring(with_patient_id(ebrim_document(old), new).encode())
    values = {
        e.get("identificationScheme"): e.get("value")
        for e in rewritten.iter("{*}ExternalIdentifier")
    }
    assert values == {Scheme.DE_PATIENT_ID.value: new, Scheme.DE_UNIQUE_ID.value: "1.2.3.4"}
    assert rewritten.findtext(".//{*}Value") == f"IPP1^^^&{SITE}&ISO"
