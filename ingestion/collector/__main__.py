"""`python -m ingestion.collector` (or `make collector`): serve Segment's tracking API.

Settings come from the environment (ingestion/settings.py, CollectorSettings); a wrong one stops
the start with the key and the fix. SIGTERM or Ctrl-C: stop accepting, acknowledge what is
waiting for the disk, publish the open segment, exit.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from ingestion.collector.app import CollectorApp
from ingestion.settings import CollectorSettings, ConfigError


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = CollectorSettings.from_env()
    except ConfigError as error:
        logging.getLogger("cx.collector").error("%s", error)
        return 2
    config = uvicorn.Config(
        CollectorApp(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,  # the root logger above: one format for uvicorn's lines and ours
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
        timeout_keep_alive=30,  # SDKs keep their connection between batches
        timeout_graceful_shutdown=15,
        backlog=2048,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
