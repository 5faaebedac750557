"""Repository tables (SQLAlchemy 2): one row per stored document.

A row exists only for a document the registry accepted (ITI TF-2b §3.41.4.1.3: the repository
keeps nothing of a failed submission); its bytes live in the document store under
``storage_key``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class StoredDocument(Base):
    __tablename__ = "documents"

    #: XDSDocumentEntry.uniqueId (an OID, at most 64 characters; room is left for bad senders)
    unique_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: SHA-1 of the bytes, lower-case hex (ITI TF-3 §4.2.3.2.12)
    sha1: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
