"""The custom resources' models and the CRDs generated from them (pure, no I/O)."""
