"""Folding person names for search: a radiologist typing ``lefevre`` must find ``LEFÈVRE``.

The folded form is stored beside the name (``Patient.family_key``/``given_key``) so a search is
an indexed prefix match on both SQLite and PostgreSQL, with no database-specific collation or
``unaccent`` extension.
"""

from __future__ import annotations

import re
import unicodedata

#: letters NFKD does not decompose but French names use
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "đ": "d", "ł": "l"})
_SEPARATORS = re.compile(r"[\s\-'’.,]+")


def fold(name: str) -> str:
    """Case-fold, strip accents, and reduce hyphens, apostrophes and spaces to one space."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", bare.translate(_LIGATURES)).strip()


def like_prefix(folded: str) -> str:
    """A LIKE pattern matching values starting with ``folded`` (``\\`` is the escape)."""
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
