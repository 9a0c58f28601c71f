"""Matching request paths to an OpenAPI document's path templates, for the spec-checking fakes
(Dinero, ePayment): one way to route, so both read a spec alike."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

Route = tuple[int, re.Pattern[str], str]


def compile_routes(templates: Iterable[str]) -> list[Route]:
    """Each template as a regex; templates with fewer parameters first, so literal segments win."""
    routes: list[Route] = []
    for template in templates:
        names = re.findall(r"{([^}]+)}", template)
        pattern = re.escape(template)
        for name in names:
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)")
        routes.append((len(names), re.compile(pattern + "$"), template))
    routes.sort(key=lambda r: r[0])
    return routes


def match_route(routes: list[Route], path: str) -> tuple[str, dict[str, str]] | None:
    """(template, path parameters) for a request path, or None when the spec has no such path."""
    for _n, pattern, template in routes:
        m = pattern.match(path)
        if m:
            return template, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
    return None


def is_int(v: Any) -> bool:
    """An integer that is not a bool (JSON Schema's int32/int64 formats)."""
    return isinstance(v, int) and not isinstance(v, bool)
