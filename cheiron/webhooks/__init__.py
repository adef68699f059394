"""Admission handlers served by the operator (kopf's webhook server); thin, cache-backed."""
