"""The only code that talks to the Kubernetes API (besides kopf's own watching).

`gateway.ApiServer` holds the stores (units, redeploys, snapshots, the jBPM ledger, reviews,
events, watches); `connect` builds one for a composition root; `errors` are public to all.
Reads of the project's objects return its models; writes answer with `meta.ObjectMeta`.
The HTTP transport (`_transport`) is private to this package; tests and benchmarks reach it
through `raw`. pyproject.toml's import contracts check all three rules.
"""
