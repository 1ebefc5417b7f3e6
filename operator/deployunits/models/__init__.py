"""Pydantic models of the custom resources: the single source of their shapes and CRDs."""
