"""Admission handlers served by the operator (kopf's webhook server); thin, index-backed."""
