"""``ihe.ebrim.text`` writes what lxml writes for ``to_element``, character for character: on
every object of the NIST submissions, and on strings that need escaping or that lxml refuses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import etree

from ihe.ebrim import (
    Association,
    Classification,
    ExternalIdentifier,
    ExtrinsicObject,
    RegistryPackage,
    Slot,
    SubmitObjectsRequest,
)
from ihe.ebrim.text import object_text
from ihe.namespaces import LCM

Written = ExtrinsicObject | RegistryPackage | Association


def lxml_text(obj: Written, *, status: bool = True) -> str:
    element = (obj if status else dataclasses.replace(obj, status=None)).to_element()
    return etree.tostring(element, encoding="utf-8").decode("utf-8")


def nist_objects(conformance_dir: Path) -> list[Written]:
    """The registry objects of every SubmitObjectsRequest of the NIST v3 test kit."""
    objects: list[Written] = []
    for path in sorted((conformance_dir / "nist-testkit-v3").rglob("*.xml")):
        root = etree.parse(str(path)).getroot()
        if root.tag != f"{{{LCM}}}SubmitObjectsRequest":
            continue
        request = SubmitObjectsRequest.from_element(root)
        objects += [o for o in request.objects
                    if isinstance(o, ExtrinsicObject | RegistryPackage | Association)]
    return objects


def test_every_nist_object_is_written_as_lxml_writes_it(conformance_dir: Path) -> None:
    objects = nist_objects(conformance_dir)
    assert len(objects) > 300
    assert {type(o) for o in objects} == {ExtrinsicObject, RegistryPackage, Association}
    for obj in objects:
        obj.status = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
        assert object_text(obj) == lxml_text(obj), obj.id
        assert object_text(obj, status=False) == lxml_text(obj, status=False), obj.id


def _document(value: str) -> ExtrinsicObject:
    """A DocumentEntry with ``value`` in every kind of place text goes."""
    return ExtrinsicObject(
        id=value, mime_type=value, lid=value, home=value, status=value, name=value,
        description=value, version_name=value,
        slots=[Slot(value, [value, "", value], slot_type=value), Slot("empty")],
        classifications=[Classification(id="c", classified_object=value, node_representation="",
                                        slots=[Slot("codingScheme", [value])], name=value)],
        external_identifiers=[ExternalIdentifier(id="e", identification_scheme=value,
                                                 registry_object="x", value=value)],
    )


@pytest.mark.parametrize("value", [
    "plain", "", "a & b < c > d", 'say "hi"', "it's", "line\nfeed", "tab\tand\rreturn",
    "]]>", "é ü ß", "\u2028\u0085\x7f", "\ufffd", "emoji \U0001f600",
])
def test_escaping_matches_lxml(value: str) -> None:
    doc = _document(value)
    assert object_text(doc) == lxml_text(doc)
    assert object_text(doc, status=False) == lxml_text(doc, status=False)
    package = RegistryPackage(id="p", slots=[Slot("s", [value])])
    assert object_text(package) == lxml_text(package)
    assert object_text(RegistryPackage(id=value)) == lxml_text(RegistryPackage(id=value))
    link = Association(id="a", association_type=value, source_object=value, target_object="t")
    assert object_text(link) == lxml_text(link)


@pytest.mark.parametrize("value", ["nul \x00", "bell \x07", "vt \x0b", "\ufffe", "\uffff"])
def test_strings_lxml_refuses_are_refused_alike(value: str) -> None:
    doc = _document(value)
    with pytest.raises(ValueError) as expected:
        lxml_text(doc)
    with pytest.raises(ValueError) as raised:
        object_text(doc)
    assert str(raised.value) == str(expected.value)
