"""XDS.b Document Repository: ITI-41 Provide and Register (forwarding ITI-42) and ITI-43
Retrieve Document Set."""
