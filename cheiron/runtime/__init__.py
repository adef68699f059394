"""Process state of a running operator: watch caches, their views and the work queue."""
