"""An embedded local control plane (etcd, kube-apiserver, controller-manager) for dev and tests."""
