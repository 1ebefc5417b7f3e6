"""Where the API server is and how to authenticate to it: from a kubeconfig or the Pod."""

import ssl
from dataclasses import asdict, dataclass

from deployunits.k8s import kubeconfig as kubeconfig_file


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
        return cls(**asdict(kubeconfig_file.load(kubeconfig)))

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
