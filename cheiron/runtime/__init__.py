"""Process state of a running operator: its runtime, watch caches, their views, the work queue."""
