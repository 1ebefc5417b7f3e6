"""Entry point of the operator process (`deployunits-operator`)."""

import argparse
import asyncio
import logging
import os
import random
import socket

import kopf
import uvloop

from deployunits.logs import configure_logging
from deployunits.memory import tune_collector
from deployunits.settings import OperatorSettings, load_settings


def main(argv: list[str] | None = None) -> int:
    """Validate the settings, then run the kopf handlers until stopped."""
    parser = argparse.ArgumentParser(prog="deployunits-operator", description=__doc__)
    parser.add_argument("--standalone", action="store_true", default=None, help="no peering")
    parser.add_argument("--peering", action="store_true", help="take part in kopf peering")
    args = parser.parse_args(argv)
    settings = load_settings(OperatorSettings)
    if settings is None:
        return 2
    configure_logging(settings.log_format, settings.log_level)
    standalone = False if args.peering else (args.standalone or settings.standalone)
    # kopf names itself after the login user unless POD_ID is set; a container user without
    # a passwd entry (OpenShift's random UIDs) would crash that lookup.
    os.environ.setdefault("POD_ID", f"{socket.gethostname()}-{os.getpid()}")
    # Importing these modules registers every handler with kopf's default registry.
    from deployunits.handlers import (  # noqa: F401
        deploymentunit,
        lifecycle,
        processengine,
        redeploy,
    )

    tune_collector()
    logging.getLogger(__name__).info("Starting the deployunits operator.")
    # uvloop, as kopf's own CLI runs on when it is installed: its transports and TLS are native
    # code, where asyncio's are Python (a tenth of the operator's CPU in a burst of units).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        _run_kopf(runner.get_loop(), settings, standalone)
    return 0


def _run_kopf(
    loop: asyncio.AbstractEventLoop, settings: OperatorSettings, standalone: bool
) -> None:
    kopf.run(
        loop=loop,
        standalone=standalone,
        # Peers with equal priority all pause (kopf); a random one makes exactly one active.
        priority=None if standalone else random.randint(1, 1_000_000),
        # Naming a peering makes it mandatory in kopf; only do so when replicas should peer.
        peering_name=None if standalone else settings.peering_name,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
    )


if __name__ == "__main__":
    raise SystemExit(main())
