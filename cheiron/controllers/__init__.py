"""Thin kopf handlers, one module per watched kind; importing a module registers its handlers."""
