"""The only code that talks to the Kubernetes API (besides kopf's own watching)."""
