"""An embedded local control plane (etcd, kube-apiserver, kube-controller-manager) for dev and tests."""
