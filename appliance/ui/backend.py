"""The kiosk's link to the till: one worker thread owns the Till (its database connection) and the
devices, runs every use case, and hands results back to the UI thread. The screen therefore never
blocks on SQLite, a drawer pulse or a slow device, and two use cases never share a connection at
the same moment. The print queue and the scanner have threads of their own."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Deliver = Callable[[Callable[[], None]], None]  # runs a callback on the UI thread


class Backend:
    def __init__(self, data_dir: Path, deliver: Deliver, clock: Callable[[], Any] | None = None):
        self.data_dir = Path(data_dir)
        self.deliver = deliver
        self.clock = clock
        self._jobs: queue.Queue[tuple[Callable[..., Any], tuple, Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="till-backend", daemon=True)
        self.till: Any = None
        self.devices: Any = None
        self.print_queue: Any = None
        self._started = threading.Event()
        self.start_error: BaseException | None = None

    def start(self, roles: tuple[str, ...] = ("printer", "drawer", "scanner", "labels",
                                              "terminal")) -> None:
        self._roles = roles
        self._thread.start()
        self._started.wait(30)
        if self.start_error is not None:
            raise self.start_error

    def _open_mobilepay(self) -> None:
        from ..services import mobilepay
        from ..services.mobilepay_setup import open_mobilepay
        self.devices.mobilepay = open_mobilepay(self.till)
        if self.devices.mobilepay is not None:
            try:
                for outcome in mobilepay.recover(self.till, self.devices.mobilepay):
                    log.warning("event=mobilepay_settled_at_start reference=%s state=%s", outcome.service_id,
                                outcome.state)
            except Exception as exc:  # MobilePay unreachable at start: settled on the next start
                log.warning("event=mobilepay_recover_failed error=%s", type(exc).__name__)

    def _run(self) -> None:
        from ..services.devices import open_devices
        from ..services.printing import PrintQueue
        from ..services.till import open_till

        try:
            self.till = open_till(self.data_dir, self.clock)
            self.devices = open_devices(self.till, self._roles)
            if self.devices.printer is not None:
                self.print_queue = PrintQueue(self.till, self.devices.printer)
                self.print_queue.start()
            self.devices.start_watching()
            if self.devices.terminal is not None:  # a crash or power cut may have left a payment open
                from ..services.payments import recover
                for outcome in recover(self.till, self.devices.terminal):
                    log.warning("event=card_settled_at_start service_id=%s state=%s", outcome.service_id,
                                outcome.state)
            if "terminal" in self._roles:  # the kiosk's payments: MobilePay beside the card terminal
                self._open_mobilepay()
        except BaseException as exc:  # reported to start()
            self.start_error = exc
            self._started.set()
            return
        self._started.set()
        while True:
            job = self._jobs.get()
            if job is None:
                break
            fn, args, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(self.till, *args))
            except BaseException as exc:
                future.set_exception(exc)
        self._shutdown()

    def _shutdown(self) -> None:
        if self.print_queue is not None:
            self.print_queue.stop()
        if self.devices is not None:
            self.devices.close()
        if self.till is not None:
            self.till.close()

    def call(self, fn: Callable[..., Any], *args: Any,
             done: Callable[[Any], None] | None = None,
             failed: Callable[[BaseException], None] | None = None) -> Future:
        """Run fn(till, *args) on the worker; `done`/`failed` are called on the UI thread."""
        future: Future = Future()

        def finished(f: Future) -> None:
            exc = f.exception()
            if exc is not None:
                if failed is not None:
                    self.deliver(lambda: failed(exc))
                else:
                    log.error("event=backend_call_failed fn=%s error=%r", getattr(fn, "__name__", fn), exc)
            elif done is not None:
                result = f.result()
                self.deliver(lambda: done(result))

        future.add_done_callback(finished)
        self._jobs.put((fn, args, future))
        return future

    def run(self, fn: Callable[..., Any], *args: Any, timeout: float = 30) -> Any:
        """Run and wait (for start-up and tests; never from a touch handler)."""
        return self.call(fn, *args).result(timeout)

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(10)
