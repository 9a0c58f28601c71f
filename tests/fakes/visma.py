"""A fake Visma Connect (the OAuth server in front of Dinero) on 127.0.0.1, for tests.

It does what the real one does for a "Web" client with PKCE and response_mode=form_post:

    GET  /connect/authorize   checks the client, redirect_uri, response_type, response_mode, S256
                              challenge and state, then shows a login form
    POST /connect/login       username/password -> a consent page ("Tillad" / "Afvis")
    POST /connect/consent     -> an auto-submitting form that POSTs code+state (or error=access_denied)
                              to the redirect_uri: that is what form_post means
    POST /connect/token       authorization_code (client secret, redirect_uri, single-use expiring code,
                              PKCE verifier) and refresh_token (rotating by default, optional grace)

    with FakeVisma() as visma:
        visma.register_client("isv_till", "s3cret", ["https://relay/callback"])
        visma.add_user("anna", "pw")
        visma.on_token(lambda token, user: dinero.issue_token(token, [42]))
        ...
        visma.revoke_all()          # every refresh token stops working

Everything it hands out is recorded (`issued`) so tests can grep logs for it; every request is
recorded in `requests`. `fail_token(status)` makes the next token request fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SCOPES = {"dineropublicapi:read", "dineropublicapi:write", "offline_access", "openid"}


@dataclass
class Client:
    secret: str
    redirect_uris: list[str]


@dataclass
class Grant:
    """One authorization code or refresh token and what it stands for."""

    client_id: str
    username: str
    scope: str
    redirect_uri: str = ""
    challenge: str = ""
    expires: float = float("inf")
    used: bool = False
    superseded_at: float | None = None  # a rotated refresh token, still usable during the grace period
    revoked: bool = False


@dataclass
class Issued:
    codes: list[str] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [*self.codes, *self.access_tokens, *self.refresh_tokens]


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class FakeVisma:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, code_lifetime: int = 300,
                 access_lifetime: int = 3600, rotate: bool = True, refresh_grace: float = 0.0,
                 offline_access: bool = True) -> None:
        self.clock, self.code_lifetime, self.access_lifetime = clock, code_lifetime, access_lifetime
        self.rotate, self.refresh_grace, self.offline_access = rotate, refresh_grace, offline_access
        self.lock = threading.Lock()
        self.users: dict[str, str] = {}
        self.clients: dict[str, Client] = {}
        self.requests: list[dict[str, Any]] = []
        self.issued = Issued()
        self._listeners: list[Callable[[str, str], None]] = []
        self._pending: dict[str, dict[str, str]] = {}  # authorize requests by id, awaiting login/consent
        self._codes: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._failures: list[int] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> FakeVisma:
        fake = self

        class Handler(_Handler):
            visma = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-visma",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeVisma:
        return self if self._httpd else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd, "start() first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/connect/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.url}/connect/token"

    # --- control --------------------------------------------------------------------------

    def add_user(self, username: str, password: str) -> None:
        self.users[username] = password

    def register_client(self, client_id: str, secret: str, redirect_uris: list[str]) -> None:
        self.clients[client_id] = Client(secret, list(redirect_uris))

    def on_token(self, callback: Callable[[str, str], None]) -> None:
        """callback(access_token, username) for every access token issued (e.g. make it valid at Dinero)."""
        self._listeners.append(callback)

    def revoke_all(self) -> None:
        """Every refresh token stops working (the user revoked the app, or the grant was withdrawn)."""
        with self.lock:
            for grant in self._refresh.values():
                grant.revoked = True

    def fail_token(self, status: int = 500, times: int = 1) -> None:
        """The next `times` token requests answer `status` with a server_error body."""
        with self.lock:
            self._failures.extend([status] * times)

    def token_requests(self) -> list[dict[str, str]]:
        return [r["form"] for r in self.requests if r["path"] == "/connect/token"]

    # --- the protocol ---------------------------------------------------------------------

    def authorize(self, q: dict[str, str]) -> tuple[int, str]:
        client = self.clients.get(q.get("client_id", ""))
        if client is None:
            return 400, _page("Fejl", "<p>Ukendt klient (invalid_client).</p>")
        if q.get("redirect_uri") not in client.redirect_uris:
            return 400, _page("Fejl", "<p>redirect_uri er ikke registreret (invalid_request).</p>")
        problems = []
        if q.get("response_type") != "code":
            problems.append("response_type skal være code")
        if q.get("response_mode") != "form_post":
            problems.append("response_mode skal være form_post")
        if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) < 43:
            problems.append("PKCE S256 mangler")
        if not q.get("state"):
            problems.append("state mangler")
        scope = q.get("scope", "").split()
        if not scope or any(s not in SCOPES for s in scope):
            problems.append("ugyldigt scope")
        if problems:
            return 400, _page("Fejl", f"<p>invalid_request: {escape('; '.join(problems))}</p>")
        request_id = secrets.token_urlsafe(16)
        with self.lock:
            self._pending[request_id] = {k: q[k] for k in ("client_id", "redirect_uri", "state", "code_challenge",
                                                           "scope")}
        return 200, _login_page(request_id)

    def login(self, form: dict[str, str]) -> tuple[int, str]:
        request = self._pending.get(form.get("request_id", ""))
        if request is None:
            return 400, _page("Fejl", "<p>Login-sessionen er udløbet.</p>")
        user = form.get("username", "")
        if user not in self.users or not hmac.compare_digest(self.users[user], form.get("password", "")):
            return 200, _login_page(form["request_id"], error="Forkert brugernavn eller adgangskode.")
        request["username"] = user
        return 200, _page("Giv adgang", (
            "<p>Tillbox Kasse vil have adgang til dine Dinero-data.</p>"
            '<form method="post" action="/connect/consent">'
            f'<input type="hidden" name="request_id" value="{escape(form["request_id"])}">'
            '<button name="decision" value="allow" id="allow">Tillad</button>'
            '<button name="decision" value="deny" id="deny">Afvis</button></form>'))

    def consent(self, form: dict[str, str]) -> tuple[int, str]:
        with self.lock:
            request = self._pending.pop(form.get("request_id", ""), None)
        if request is None or "username" not in request:
            return 400, _page("Fejl", "<p>Login-sessionen er udløbet.</p>")
        fields = {"state": request["state"]}
        if form.get("decision") == "allow":
            code = secrets.token_urlsafe(24)
            with self.lock:
                self._codes[code] = Grant(request["client_id"], request["username"], request["scope"],
                                          request["redirect_uri"], request["code_challenge"],
                                          expires=self.clock() + self.code_lifetime)
                self.issued.codes.append(code)
            fields["code"] = code
        else:
            fields["error"] = "access_denied"
        inputs = "".join(f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in fields.items())
        return 200, (
            "<!doctype html><html><head><meta charset='utf-8'><title>Videresender</title></head>"
            "<body onload='document.forms[0].submit()'>"
            f'<form method="post" action="{escape(request["redirect_uri"])}">{inputs}'
            "<noscript><button>Fortsæt</button></noscript></form></body></html>")

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self._failures:
                return self._failures.pop(0), {"error": "server_error"}
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret, secret):
            return 401, {"error": "invalid_client"}
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(client_id, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(client_id, form)
        return 400, {"error": "unsupported_grant_type"}

    def _exchange(self, client_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            grant = self._codes.get(form.get("code", ""))
            if grant is None or grant.used or grant.expires <= self.clock() or grant.client_id != client_id:
                return 400, {"error": "invalid_grant"}
            grant.used = True  # single use, whatever happens next
            if form.get("redirect_uri") != grant.redirect_uri:
                return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
            if s256(form.get("code_verifier", "")) != grant.challenge:
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        return 200, self._issue(client_id, grant.username, grant.scope)

    def _refresh_grant(self, client_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        old = form.get("refresh_token", "")
        with self.lock:
            grant = self._refresh.get(old)
            now = self.clock()
            if grant is None or grant.revoked or grant.client_id != client_id:
                return 400, {"error": "invalid_grant"}
            if grant.superseded_at is not None and now - grant.superseded_at > self.refresh_grace:
                return 400, {"error": "invalid_grant"}
            if self.rotate and grant.superseded_at is None:
                grant.superseded_at = now
        body = self._issue(client_id, grant.username, grant.scope, keep_refresh=None if self.rotate else old)
        return 200, body

    def _issue(self, client_id: str, username: str, scope: str, keep_refresh: str | None = None
               ) -> dict[str, Any]:
        access = "vat_" + secrets.token_urlsafe(32)
        body: dict[str, Any] = {"access_token": access, "expires_in": self.access_lifetime,
                                "token_type": "Bearer", "scope": scope}
        with self.lock:
            self.issued.access_tokens.append(access)
            if self.offline_access and "offline_access" in scope.split():
                refresh = keep_refresh or "vrt_" + secrets.token_urlsafe(32)
                if refresh not in self._refresh:
                    self._refresh[refresh] = Grant(client_id, username, scope)
                    self.issued.refresh_tokens.append(refresh)
                body["refresh_token"] = refresh
        for listener in self._listeners:
            listener(access, username)
        return body


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='da'><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")


def _login_page(request_id: str, error: str | None = None) -> str:
    err = f'<p class="error">{escape(error)}</p>' if error else ""
    return _page("Log ind på Visma", (
        f'{err}<form method="post" action="/connect/login">'
        f'<input type="hidden" name="request_id" value="{escape(request_id)}">'
        '<label>E-mail <input name="username" id="username"></label>'
        '<label>Adgangskode <input type="password" name="password" id="password"></label>'
        '<button id="login">Log ind</button></form>'))


class _Handler(BaseHTTPRequestHandler):
    visma: FakeVisma
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self._record("GET", parts.path, query, {})
        if parts.path == "/connect/authorize":
            self._html(*self.visma.authorize(query))
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        self._record("POST", parts.path, {}, form)
        if parts.path == "/connect/login":
            self._html(*self.visma.login(form))
        elif parts.path == "/connect/consent":
            self._html(*self.visma.consent(form))
        elif parts.path == "/connect/token":
            if "application/x-www-form-urlencoded" not in self.headers.get("Content-Type", ""):
                self._json(400, {"error": "invalid_request"})
                return
            self._json(*self.visma.token(form, self._basic()))
        else:
            self._send(404, b"not found", "text/plain")

    def _basic(self) -> tuple[str, str] | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return user, password

    def _record(self, method: str, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        with self.visma.lock:
            self.visma.requests.append({"method": method, "path": path, "query": query, "form": form})

    def _html(self, status: int, html: str) -> None:
        self._send(status, html.encode(), "text/html; charset=utf-8")

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
