"""The people the agency pays: registration and registry changes (`registration`, `registry`),
finding them by ID number (`id_lookup`), sealed personal data (`personal_data`) and key rotation
(`rekey`)."""
