"""Errors of the wire layer, split h11-style.

``RemoteProtocolError``: the peer sent something we cannot accept. ``LocalProtocolError``: we
were asked to build something the standard forbids. Both carry the IHE ``RegistryError`` code an
I/O layer should answer with.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base: a message that violates ebRS / ITI TF; ``code`` is the IHE errorCode hint."""

    def __init__(self, message: str, code: str = "XDSRegistryError", location: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.location = location


class RemoteProtocolError(ProtocolError):
    """The peer sent a malformed or non-conformant message."""


class LocalProtocolError(ProtocolError):
    """We were asked to emit a message the standard forbids."""


class XmlSecurityError(RemoteProtocolError):
    """A DTD, entity declaration or oversize document was refused before parsing."""
