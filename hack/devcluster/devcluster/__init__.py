"""The dev kit: the embedded control plane, `make run`, and what tests and benchmarks share.

A distribution of its own (hack/devcluster), never part of the image: `plane` (etcd,
kube-apiserver, controller-manager as processes), `binaries` (building them), `install` (CRDs
and the admission policy), `processes` (the operator and the shim as subprocesses), `kjars`
(real kjars in a Maven layout), `gitops` (building Flux and Argo CD for the GitOps
tests), and `cli` (`deployunits-devcluster`).
"""
