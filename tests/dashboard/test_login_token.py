"""The dashboard's API requests carry the browser's token and address (pure logic, in a Flask request)."""

from __future__ import annotations

import flask
import httpx

from dashboard.login import COOKIE, CookieToken


def _sent(environ: dict[str, str]) -> httpx.Request:
    app = flask.Flask(__name__)
    with app.test_request_context("/", environ_base=environ, headers={"Cookie": f"{COOKIE}=sts_abc"}):
        request = httpx.Request("GET", "http://127.0.0.1:8050/api/v1/twin")
        return next(CookieToken().auth_flow(request))


def test_token_and_browser_address_go_with_each_request() -> None:
    sent = _sent({"REMOTE_ADDR": "10.1.2.3"})
    assert sent.headers["authorization"] == "Bearer sts_abc"
    assert sent.headers["x-forwarded-for"] == "10.1.2.3"


def test_outside_a_browser_request_nothing_is_added() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:8050/api/v1/twin")
    sent = next(CookieToken().auth_flow(request))
    assert "authorization" not in sent.headers and "x-forwarded-for" not in sent.headers
