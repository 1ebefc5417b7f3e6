"""The jBPM 6 dialect of the shim: /business-central/rest/deployment with asynchronous jobs.

A deploy or undeploy is admitted into a job queue kept in the API server (a ConfigMap ledger
written with resourceVersion preconditions, so every shim replica sees the same queue), answered
with 202 at once, and then applied to the DeploymentUnit by a background materializer; the
operator carries the job through the status enum from there.

Content the engine would not build is refused as jBPM 6.5 refuses it: the deploy is accepted
(202), then its job fails and the deployment is `DEPLOY_FAILED` with the operator's reason (a
sequence flow to a missing node is jBPM's "Could not find target node for connection:...", with
resource, line and column). Schema violations alone pass, as jBPM only logs them.

A process definition's `variables` are jBPM 6.5's (its ProcessGetInputHandler): each
`property` of the process and its sub-processes that has an `itemSubjectRef`, by name (or id),
typed by that item definition's `structureRef` (`java.lang.Object` when it has none or jBPM has
not met it yet), in the order of jBPM's java.util.HashMap; the operator records them in the
unit's status (`definitions[].variables`) for jBPM ids only.
"""
