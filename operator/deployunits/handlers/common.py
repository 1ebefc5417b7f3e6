"""kopf set-up the operator shares with bench's least operator: its login, and no diff base.

Apart from the start-up module (lifecycle.py) so that the least operator, which measures what
any kopf operator with these settings costs, runs them without the operator's own start-up.
"""

from collections.abc import Iterable
from typing import Any

import kopf

from deployunits.k8s.connection import Connection
from deployunits.settings import OperatorSettings


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff base: only create/update/resume handlers use one, and there are none here.

    kopf builds the diff base of every event anyway (a deep copy of the body, twice); for
    20 KiB units that was a twentieth of the operator's CPU in a burst of creations.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def login(**_: Any) -> kopf.ConnectionInfo:
    """kopf connects as the project's own client does (DEPLOYUNITS_KUBECONFIG or in-cluster)."""
    connection = Connection.load(OperatorSettings().kubeconfig)
    return kopf.ConnectionInfo(
        server=connection.server,
        ca_path=connection.ca_file,
        insecure=not connection.verify,
        certificate_path=connection.cert_file,
        private_key_path=connection.key_file,
        token=connection.bearer(),
        default_namespace=None,
    )
