"""The patient's privacy centre: server-rendered pages of the consent service (their studies,
their sharing policy, its history, who read their images, emergency-access notifications)."""
