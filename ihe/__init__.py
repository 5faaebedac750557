"""Pure IHE wire formats: ebRIM 3.0 / ebRS messages, SOAP 1.2 + WS-Addressing, MTOM/XOP.

Nothing in this package does network, database, clock or uuid work: callers pass in times
and identifiers. Every message type has ``from_bytes``/``from_element`` and ``to_bytes``.
"""
