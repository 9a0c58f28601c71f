"""`python -m relay --config relay.toml`: run the pairing relay until stopped.

Settings come from the TOML file and TILLBOX_RELAY_* environment variables (see relay/config.py);
the client secret from client_secret_file or TILLBOX_RELAY_CLIENT_SECRET. Put a TLS-terminating
reverse proxy in front; the relay itself speaks plain HTTP on host:port."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from relay.app import make_relay
from relay.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relay", description="Tillbox pairing relay")
    parser.add_argument("--config", type=Path, help="TOML settings file (environment variables override)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    for noisy in ("httpx", "httpcore"):  # our own events say enough
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log = logging.getLogger("relay")
    server = make_relay(config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    log.info("event=relay_started url=%s public_url=%s client_id=%s", server.url, config.public_url,
             config.client_id)
    stop.wait()
    server.stop()
    log.info("event=relay_stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
