"""Where the API server is and how to authenticate to it: `Connection.load` reads a kubeconfig
or the Pod's service account (the reading is `kubeconfig`'s, which defines the type)."""

from deployunits.k8s.kubeconfig import Connection, KubeconfigError

__all__ = ["Connection", "KubeconfigError"]
