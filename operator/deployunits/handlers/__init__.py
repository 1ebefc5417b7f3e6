"""kopf handlers (decorators only); importing this package registers them all."""

from deployunits.handlers import deploymentunit, lifecycle, redeploy

__all__ = ["deploymentunit", "lifecycle", "redeploy"]
