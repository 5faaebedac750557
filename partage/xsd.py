"""Offline validation against the ebRS 3.0 / XDS.b / XDS-I.b schemas shipped in ``ihe/schemas``.

libxml2 resolves ``http://www.w3.org/2001/xml.xsd`` through the folder's ``catalog.xml`` (set in
``XML_CATALOG_FILES`` before the first schema is loaded), so nothing is fetched from the network.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from lxml import etree

#: the schemas shipped with the wire library (a copy of ``shared/conformance/schemas``)
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "ihe" / "schemas"

#: root element (Clark notation) → schema file, relative to ``schemas/schema``
SCHEMA_OF = {
    "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest": "ebRS/lcm.xsd",
    "{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryResponse": "ebRS/rs.xsd",
    "{urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0}AdhocQueryRequest": "ebRS/query.xsd",
    "{urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0}AdhocQueryResponse": "ebRS/query.xsd",
    "{urn:ihe:iti:xds-b:2007}ProvideAndRegisterDocumentSetRequest": "IHE/XDS.b_DocumentRepository.xsd",
    "{urn:ihe:iti:xds-b:2007}RetrieveDocumentSetRequest": "IHE/XDS.b_DocumentRepository.xsd",
    "{urn:ihe:iti:xds-b:2007}RetrieveDocumentSetResponse": "IHE/XDS.b_DocumentRepository.xsd",
    "{urn:ihe:rad:xdsi-b:2009}RetrieveImagingDocumentSetRequest": "IHE/XDSI.b_ImagingDocumentSource.xsd",
}


@cache
def _schema(schemas_dir: Path, relative: str) -> etree.XMLSchema:
    os.environ.setdefault("XML_CATALOG_FILES", str(schemas_dir / "catalog.xml"))
    return etree.XMLSchema(etree.parse(str(schemas_dir / "schema" / relative)))


def errors(element: etree._Element, schemas_dir: Path = SCHEMAS_DIR) -> list[str]:
    """Schema violations of ``element`` (a message body root); empty when valid."""
    relative = SCHEMA_OF.get(element.tag)
    if relative is None:
        return [f"no schema known for {element.tag}"]
    schema = _schema(schemas_dir.resolve(), relative)
    if schema.validate(element):
        return []
    return [f"{e.line}: {e.message}" for e in schema.error_log]
