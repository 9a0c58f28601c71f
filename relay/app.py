"""The relay's web side: RFC 8628 endpoints for the till, Danish pages for the installer's phone.

    server = RelayServer(config).start()     # threads on config.host:config.port (0: any free port)
    server.url                               # http://127.0.0.1:54321
    server.stop()

Routes (see relay/__init__.py for why the relay exists):
  till:  POST /device/code, POST /device/token, POST /token (refresh through the relay's secret)
  phone: GET/POST /device, POST /callback (Visma's form_post), POST /choose
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import relay.pages as pages
from relay.config import RelayConfig
from relay.pairings import (
    COMPLETE,
    DENIED,
    SLOW_DOWN_STEP,
    CapacityError,
    Pairings,
    WrongCodeLimiter,
    display_user_code,
    normalize_user_code,
)
from relay.upstream import InvalidGrant, Upstream, UpstreamError

log = logging.getLogger("relay")

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MAX_BODY = 16 * 1024


class Reply:
    """What a route answers: status, headers and body."""

    def __init__(self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8",
                 headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}


def json_reply(status: int, body: dict[str, Any]) -> Reply:
    return Reply(status, json.dumps(body).encode(), "application/json")


def html_reply(status: int, html: str) -> Reply:
    return Reply(status, html.encode("utf-8"))


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class Relay:
    """The routes, independent of the HTTP plumbing; `clock` is injectable so tests can expire codes."""

    def __init__(self, config: RelayConfig, clock: Callable[[], float] = time.monotonic,
                 upstream: Upstream | None = None) -> None:
        self.config, self.clock = config, clock
        self.pairings = Pairings(config.code_lifetime, config.interval, config.max_pending)
        self.limiter = WrongCodeLimiter(config.wrong_code_limit, config.wrong_code_window)
        self.upstream = upstream or Upstream(config)  # inject one on httpx.MockTransport in tests

    # --- the till -------------------------------------------------------------------------

    def device_code(self) -> Reply:
        try:
            pairing = self.pairings.create(self.clock())
        except CapacityError:
            log.warning("event=pairing_refused reason=capacity pending=%d", len(self.pairings))
            return json_reply(503, {"error": "temporarily_unavailable"})
        shown = display_user_code(pairing.user_code)
        base = self.config.public_url
        log.info("event=pairing_started pairing=%s expires_in=%d", pairing.id, self.config.code_lifetime)
        return json_reply(200, {
            "device_code": pairing.device_code, "user_code": shown,
            "verification_uri": f"{base}/device",
            "verification_uri_complete": f"{base}/device?{urlencode({'user_code': shown})}",
            "expires_in": self.config.code_lifetime, "interval": pairing.interval,
        })

    def device_token(self, form: dict[str, str]) -> Reply:
        if form.get("grant_type") != DEVICE_GRANT:
            return json_reply(400, {"error": "unsupported_grant_type"})
        now = self.clock()
        with self.pairings.lock:  # one poll at a time, so the tokens are handed out exactly once
            self.pairings.purge(now)
            pairing = self.pairings.by_device_code(form.get("device_code", ""))
            if pairing is None:
                return json_reply(400, {"error": "invalid_grant"})
            if pairing.expires <= now:
                log.info("event=poll pairing=%s result=expired_token", pairing.id)
                return json_reply(400, {"error": "expired_token"})
            too_soon = pairing.last_poll is not None and now - pairing.last_poll < pairing.interval
            pairing.last_poll = now
            if too_soon:
                pairing.interval += SLOW_DOWN_STEP
                log.info("event=poll pairing=%s result=slow_down interval=%d", pairing.id, pairing.interval)
                return json_reply(400, {"error": "slow_down", "interval": pairing.interval})
            if pairing.status == DENIED:
                log.info("event=poll pairing=%s result=access_denied", pairing.id)
                return json_reply(400, {"error": "access_denied"})
            if pairing.status != COMPLETE or not pairing.tokens:
                log.debug("event=poll pairing=%s result=authorization_pending", pairing.id)
                return json_reply(400, {"error": "authorization_pending"})
            tokens = pairing.tokens
            body = {
                "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                "expires_in": max(0, int(tokens["expires_at"] - now)), "token_type": "Bearer",
                "scope": tokens.get("scope", self.config.scopes),
                "organization_id": pairing.org_id, "organization_name": pairing.org_name,
            }
            self.pairings.forget(pairing)
        log.info("event=pairing_collected pairing=%s org_id=%s", pairing.id, pairing.org_id)
        return json_reply(200, body)

    def refresh(self, form: dict[str, str]) -> Reply:
        if form.get("grant_type") != "refresh_token":
            return json_reply(400, {"error": "unsupported_grant_type"})
        old = form.get("refresh_token", "")
        if not old:
            return json_reply(400, {"error": "invalid_request"})
        try:
            tokens = self.upstream.refresh(old)
        except InvalidGrant:
            log.info("event=refresh result=invalid_grant")
            return json_reply(400, {"error": "invalid_grant"})
        except UpstreamError as exc:
            log.warning("event=refresh result=upstream_error error=%s", _quote(str(exc)))
            return json_reply(502, {"error": "temporarily_unavailable"})
        rotated = bool(tokens.get("refresh_token")) and tokens.get("refresh_token") != old
        log.info("event=refresh result=ok rotated=%s", "yes" if rotated else "no")
        return json_reply(200, {
            "access_token": tokens["access_token"], "refresh_token": tokens.get("refresh_token") or old,
            "expires_in": tokens["expires_in"], "token_type": "Bearer",
            "scope": tokens.get("scope", self.config.scopes),
        })

    # --- the installer's phone ------------------------------------------------------------

    def show_device(self, query: dict[str, str]) -> Reply:
        """Only shows the code; it is checked (and counted) on POST, so GET is no guessing oracle."""
        code = normalize_user_code(query.get("user_code", ""))
        return html_reply(200, pages.confirm_code(code) if code else pages.enter_code())

    def submit_code(self, form: dict[str, str], ip: str) -> Reply:
        now = self.clock()
        if self.limiter.blocked(ip, now):
            log.warning("event=user_code_refused reason=rate_limit ip=%s", ip)
            return html_reply(429, pages.too_many())
        self.pairings.purge(now)
        typed = form.get("user_code", "")
        code = normalize_user_code(typed)
        pairing = self.pairings.live_by_user_code(code, now) if code else None
        if pairing is None:
            self.limiter.record_miss(ip, now)
            log.info("event=user_code_wrong ip=%s", ip)
            return html_reply(400, pages.enter_code(typed[:12], pages.WRONG_CODE))
        self.pairings.begin_authorization(pairing)
        assert pairing.state and pairing.verifier
        params = {
            "client_id": self.config.client_id, "response_type": "code", "response_mode": "form_post",
            "redirect_uri": f"{self.config.public_url}/callback", "scope": self.config.scopes,
            "state": pairing.state, "code_challenge": s256(pairing.verifier), "code_challenge_method": "S256",
            "ui_locales": "da-DK",
        }
        log.info("event=authorize_redirect pairing=%s", pairing.id)
        return Reply(302, headers={"Location": f"{self.config.authorize_url}?{urlencode(params)}"})

    def callback(self, form: dict[str, str]) -> Reply:
        now = self.clock()
        pairing = self.pairings.take_by_state(form.get("state", ""), now)
        if pairing is None:
            log.warning("event=callback_refused reason=unknown_state")
            return html_reply(400, pages.message(
                "Ugyldig anmodning", "Anmodningen er ugyldig eller udløbet. Start forfra fra kassen."))
        error = form.get("error")
        if error == "access_denied":
            self.pairings.deny(pairing)
            log.info("event=callback pairing=%s result=access_denied", pairing.id)
            return html_reply(200, pages.message(
                "Adgang afvist",
                "Du afviste adgangen til Dinero. Kassen er ikke forbundet. Du kan lukke siden."))
        if error or not form.get("code"):
            self.pairings.reset(pairing)
            log.warning("event=callback pairing=%s result=error error=%s", pairing.id,
                        _quote(error or "no_code"))
            return html_reply(502, pages.message(
                "Login mislykkedes", "Login hos Visma mislykkedes.", retry_code=pairing.user_code))
        assert pairing.verifier
        try:
            tokens = self.upstream.exchange_code(form["code"], pairing.verifier)
            if not tokens.get("refresh_token"):
                raise UpstreamError("no refresh token (is offline access enabled for the client?)")
            orgs = self.upstream.organizations(tokens["access_token"])
        except (InvalidGrant, UpstreamError) as exc:
            self.pairings.reset(pairing)
            log.warning("event=callback pairing=%s result=upstream_error error=%s", pairing.id,
                        _quote(str(exc) or type(exc).__name__))
            return html_reply(502, pages.message(
                "Login mislykkedes", "Forbindelsen til Visma eller Dinero mislykkedes.",
                retry_code=pairing.user_code))
        tokens["expires_at"] = self.clock() + tokens["expires_in"]
        self.pairings.await_choice(pairing, tokens, orgs)
        log.info("event=callback pairing=%s result=ok orgs=%d pro=%d", pairing.id, len(orgs),
                 sum(1 for o in orgs if o["pro"]))
        assert pairing.choice
        return html_reply(200, pages.choose_org(pairing.choice, orgs))

    def choose(self, form: dict[str, str]) -> Reply:
        pairing = self.pairings.by_choice(form.get("choice", ""), self.clock())
        if pairing is None:
            return html_reply(400, pages.message(
                "Ugyldig anmodning", "Anmodningen er ugyldig eller udløbet. Start forfra fra kassen."))
        org = next((o for o in pairing.orgs if str(o["id"]) == form.get("org_id")), None)
        if org is None or not org["pro"]:
            assert pairing.choice
            return html_reply(400, pages.choose_org(
                pairing.choice, pairing.orgs, "Vælg en virksomhed med Dinero Pro."))
        self.pairings.complete(pairing, org["id"], org["name"])
        log.info("event=pairing_approved pairing=%s org_id=%d", pairing.id, org["id"])
        return html_reply(200, pages.done(org["name"]))

    def close(self) -> None:
        self.upstream.close()


def _quote(value: str) -> str:
    """A log value on one line, quoted when it has spaces."""
    value = " ".join(value.split())
    return json.dumps(value) if (" " in value or not value) else value


class Handler(BaseHTTPRequestHandler):
    server: RelayHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "TillboxRelay"
    sys_version = ""

    def do_GET(self) -> None:
        path, query = self._target()
        if path == "/device":
            self._send(self.server.relay.show_device(query))
        elif path == "/healthz":
            self._send(json_reply(200, {"status": "ok"}))
        else:
            self._send(json_reply(404, {"error": "not_found"}))

    def do_POST(self) -> None:
        path, _ = self._target()
        form = self._form()
        if form is None:
            return
        relay = self.server.relay
        routes: dict[str, Callable[[], Reply]] = {
            "/device/code": relay.device_code,
            "/device/token": lambda: relay.device_token(form),
            "/token": lambda: relay.refresh(form),
            "/device": lambda: relay.submit_code(form, self._client_ip()),
            "/callback": lambda: relay.callback(form),
            "/choose": lambda: relay.choose(form),
        }
        route = routes.get(path)
        if route is None:
            self._send(json_reply(404, {"error": "not_found"}))
            return
        try:
            reply = route()
        except Exception as exc:  # one line, no traceback: messages could carry request details
            log.error("event=internal_error path=%s error=%s", path, type(exc).__name__)
            reply = json_reply(500, {"error": "server_error"})
        self._send(reply)

    def _target(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}

    def _form(self) -> dict[str, str] | None:
        """The urlencoded body; RFC 6749 forbids repeated parameters, so those are refused."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(json_reply(413, {"error": "invalid_request"}))
            self.close_connection = True
            return None
        raw = self.rfile.read(length).decode("utf-8", "replace")
        parsed = parse_qs(raw, keep_blank_values=True)
        if any(len(v) > 1 for v in parsed.values()):
            self._send(json_reply(400, {"error": "invalid_request"}))
            return None
        return {k: v[0] for k, v in parsed.items()}

    def _client_ip(self) -> str:
        if self.server.relay.config.trust_forwarded_for:
            forwarded = self.headers.get("X-Forwarded-For", "")
            if forwarded:
                return forwarded.split(",")[-1].strip()  # the hop our own proxy added
        return self.client_address[0]

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Content-Type-Options", "nosniff")
        if reply.content_type.startswith("text/html"):
            visma = urlsplit(self.server.relay.config.authorize_url)
            self.send_header("Content-Security-Policy",
                             "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
                             f"form-action 'self' {visma.scheme}://{visma.netloc}")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """The stdlib's access log prints query strings; log method, path and status only."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path if hasattr(self, "path") else "-"
        log.debug("event=http method=%s path=%s status=%s", getattr(self, "command", "-"), _quote(path), code)


class RelayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    relay: Relay


class RelayServer:
    """The relay on its own threads, for `python -m relay` and for tests in-process."""

    def __init__(self, config: RelayConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.httpd = RelayHTTPServer((config.host, config.port), Handler)
        if not config.public_url:  # tests and development: the address it is listening on
            config = replace(config, public_url=self.url)
        self.relay = self.httpd.relay = Relay(config, clock)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"  # AF_INET: host is a str (bytes only for AF_UNIX)

    @property
    def pairings(self) -> Pairings:
        return self.relay.pairings

    def start(self, poll_interval: float = 0.5) -> RelayServer:
        """Serve on a daemon thread; `poll_interval` bounds how long stop() waits for it."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(poll_interval,), name="relay",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        if self._thread:
            self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self.relay.close()

    def __enter__(self) -> RelayServer:
        return self if self._thread else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_relay(config: RelayConfig, *, clock: Callable[[], float] = time.monotonic) -> RelayServer:
    """The relay, bound but not yet serving (call .start() or .serve_forever())."""
    return RelayServer(config, clock=clock)


__all__ = ["Relay", "RelayServer", "make_relay", "s256"]
