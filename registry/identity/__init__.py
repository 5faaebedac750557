"""Patient identity of the region (PIX manager role): regional patients keyed by INS in CX form,
each site's local IDs cross-referenced to them, merges, and the site directory.

``store`` and ``sites`` work on a session; ``hl7`` and ``cx`` are pure; ``feed`` applies ADT
messages; ``mllp`` listens for them. The REST side is ``registry.api.routes.identity``.
"""
