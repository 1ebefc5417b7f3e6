"""The API server as the operator and the shim see it: one transport and the stores over it."""

from deployunits.k8s import core
from deployunits.k8s._transport import KubeClient, custom_path
from deployunits.k8s.engines import EngineObjects, EngineStore, Secrets, read_engine
from deployunits.k8s.events import EventRecorder
from deployunits.k8s.ledger import LedgerStore
from deployunits.k8s.redeploys import RedeployStore
from deployunits.k8s.reviews import Reviews
from deployunits.k8s.snapshots import SnapshotStore
from deployunits.k8s.units import UnitStore
from deployunits.k8s.watch import Reflector, Sink


class ApiServer:
    """Every call a process makes to the API server goes through one of these stores."""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport
        self.units = UnitStore(transport)
        self.redeploys = RedeployStore(transport)
        self.snapshots = SnapshotStore(transport)
        self.config_maps = core.ConfigMaps(transport)
        self.namespaces = core.Namespaces(transport)
        self.events = EventRecorder(transport)
        self.reviews = Reviews(transport)
        self.engines = EngineStore(transport)
        self.secrets = Secrets(transport)

    def ledger(self, namespace: str, name: str) -> LedgerStore:
        """The ledger ConfigMap of that name."""
        return LedgerStore(self._kube, namespace, name)

    def reflector(
        self, plural: str, scope: str | None, sink: Sink, *, label_selector: str | None = None
    ) -> Reflector:
        """A list-then-watch of the project's kind `plural` in a namespace (None: all)."""
        return Reflector(
            self._kube, custom_path(plural, scope), sink, scope=scope, label_selector=label_selector
        )

    async def engine_objects(self, namespace: str, name: str) -> EngineObjects | None:
        """A ProcessEngine with its Secret's data and CA bundle; None if it does not exist."""
        return await read_engine(self.engines, self.secrets, self.config_maps, namespace, name)

    async def version(self) -> str:
        """The API server's gitVersion (the operator's liveness: its client still gets through)."""
        version = await self._kube.get("/version")
        return str(version.get("gitVersion", "unknown"))

    async def aclose(self) -> None:
        await self._kube.aclose()
