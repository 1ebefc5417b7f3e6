"""deployunits: a Kubernetes operator and REST shim for BPM deployment units."""

__version__ = "0.1.0"
