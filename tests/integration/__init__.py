"""Integration tests against a real Kubernetes API server."""
