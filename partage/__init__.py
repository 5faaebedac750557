"""Partage runtime: the only shared code that does I/O (settings, database, logging, SOAP over
HTTP) and the ``partage`` command line. Wire formats live in ``ihe``; services in their folders."""
