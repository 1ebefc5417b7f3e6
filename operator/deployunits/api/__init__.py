"""The REST shim: engine dialects over the custom resources (FastAPI)."""
