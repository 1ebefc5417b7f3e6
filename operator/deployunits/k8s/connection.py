"""Where the API server is and how to authenticate to it: from a kubeconfig or the Pod."""

import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to authenticate to it."""

    server: str
    ca_file: str | None = None
    verify: bool = True
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None

    @classmethod
    def load(cls, kubeconfig: str | None = None) -> "Connection":
        """From a kubeconfig (explicit, $KUBECONFIG or ~/.kube/config) or the Pod's account."""
        # The official client knows every kubeconfig variant (exec plugins, in-cluster files).
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration
            )
            token_file = None
        except k8s_config.ConfigException:
            if kubeconfig:
                raise
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
            token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token"
        bearer = (configuration.api_key or {}).get("authorization") or (
            configuration.api_key or {}
        ).get("BearerToken")
        token = bearer.removeprefix("Bearer ").strip() if bearer else None
        return cls(
            server=configuration.host.rstrip("/"),
            ca_file=configuration.ssl_ca_cert,
            verify=bool(configuration.verify_ssl),
            cert_file=configuration.cert_file,
            key_file=configuration.key_file,
            token=token,
            token_file=token_file,
        )

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def bearer(self) -> str | None:
        if self.token_file:
            # Projected tokens rotate; reading the file each time picks up the new one.
            with open(self.token_file) as handle:
                return handle.read().strip()
        return self.token
