"""Entry point of the shim process (`deployunits-shim`)."""

import uvicorn

from deployunits.api.app import create_app
from deployunits.api.timeouts import head_limited_protocol
from deployunits.logs import configure_logging
from deployunits.memory import tune_collector
from deployunits.settings import ShimSettings, load_settings


def main() -> int:
    """Validate the settings, then serve the shim until stopped."""
    settings = load_settings(ShimSettings)
    if settings is None:
        return 2
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings)
    tune_collector()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=head_limited_protocol(
            settings.request_header_timeout_seconds, settings.max_request_head_bytes
        ),
        log_config=None,
        access_log=False,
        # The engines send no Server header; the shim's own answers get their Date from the
        # application (api/headers.py), forwarded ones keep the engine's.
        server_header=False,
        date_header=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
