"""The patients' consent service: versioned sharing policies, the region's policy decision point
(PDP) and their FHIR Consent export (IHE PCF)."""
