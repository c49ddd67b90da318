import uvicorn

from ostan_gateway.app import create_app
from ostan_gateway.settings import GatewaySettings
from ostan_kit.runtime import metrics
from ostan_kit.runtime.logs import configure_logging
from ostan_kit.runtime.telemetry import configure_tracing, shutdown


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    configure_tracing("gateway", settings.traces_dir)
    try:
        app = create_app(settings)
        metrics.serve(settings.metrics_port, settings.host)
    except (ValueError, OSError) as error:
        raise SystemExit(f"the gateway does not start: {error}") from None
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    shutdown()


if __name__ == "__main__":
    main()
