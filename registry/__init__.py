"""XDS.b Document Registry and patient identity cross-reference of the region."""
