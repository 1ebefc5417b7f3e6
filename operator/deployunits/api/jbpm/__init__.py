"""The jBPM 6 dialect of the shim: /business-central/rest/deployment with asynchronous jobs.

A deploy or undeploy is admitted into a job queue kept in the API server (a ConfigMap ledger
written with resourceVersion preconditions, so every shim replica sees the same queue), answered
with 202 at once, and then applied to the DeploymentUnit by a background materializer; the
operator carries the job through the status enum from there.
"""
