"""kopf handlers (decorators only); importing this package registers them all."""

from deployunits.handlers import deploymentunit, lifecycle

__all__ = ["deploymentunit", "lifecycle"]
