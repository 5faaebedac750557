"""MTOM/XOP multipart/related packaging (W3C SOAP MTOM, XOP; RFC 2387)."""

from ihe.mtom.messages import MtomMessage, decode, encode, is_multipart

__all__ = ["MtomMessage", "decode", "encode", "is_multipart"]
