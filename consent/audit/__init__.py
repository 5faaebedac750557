"""The audit record repository (ITI-20 receiver, ITI-81-style query): every DICOM audit message
received over syslog (UDP, TLS) or HTTP is stored raw with indexed columns, once."""
