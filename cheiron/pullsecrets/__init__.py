"""Pull-Secret rules that are not state machines: targets, entries, Secrets, marks (pure)."""
