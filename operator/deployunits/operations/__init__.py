"""Operator work that needs I/O: fetch, store, allocate, write; decisions come from reconcile/."""
