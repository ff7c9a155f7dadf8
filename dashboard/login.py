"""Logging in to the dashboard: a login page, the token in an HTTP-only cookie, logout.

The dashboard reads the API as the person who logged in: `CookieToken` puts the token of the
browser's cookie on every API request a callback makes, so each view shows only what the API lets
that person see (a facility manager's map holds only their buildings).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import dash
import flask
import httpx
from dash import Input, Output, State, dcc, html

from dashboard.client import ApiClient, ApiError
from dashboard.i18n import lang_of

log = logging.getLogger(__name__)

COOKIE = "safetwin_token"
LOGIN_PATH = "/login"

_TEXT = {
    "login.title": ("登录 SafeTwin", "Log in to SafeTwin"),
    "login.user": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.missing": ("请输入用户名和密码", "Enter your user name and password"),
    "logout": ("退出", "Log out"),
}


def text(key: str, lang: str) -> str:
    zh, en = _TEXT[key]
    return en if lang == "en" else zh


def current_token() -> str | None:
    """The token of the browser that made the request being handled, if it has one."""
    if not flask.has_request_context():
        return None
    return flask.request.cookies.get(COOKIE) or None


class CookieToken(httpx.Auth):
    """httpx auth: the logged-in browser's token as a bearer token on each API request, and the
    browser's address as X-Forwarded-For, so the audit log says where an action came from (the API's
    server takes it from the dashboard on loopback only)."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = current_token()
        if token and "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {token}"
        if flask.has_request_context() and flask.request.remote_addr:
            request.headers["X-Forwarded-For"] = flask.request.remote_addr
        yield request


def signed_in(client: ApiClient) -> dict[str, Any] | None:
    """The signed-in user (GET /auth/me), or None when the API does not accept the browser's token."""
    try:
        return client.me()
    except (ApiError, httpx.HTTPError):
        return None


def login_page(lang: str) -> html.Div:
    """The login form."""
    return html.Div(
        html.Form(
            [
                html.H2(text("login.title", lang)),
                html.Label(text("login.user", lang), htmlFor="login-user"),
                dcc.Input(id="login-user", type="text", autoComplete="username", className="login-input"),
                html.Label(text("login.password", lang), htmlFor="login-password"),
                dcc.Input(
                    id="login-password",
                    type="password",
                    autoComplete="current-password",
                    className="login-input",
                ),
                html.Button(
                    text("login.submit", lang), id="login-submit", n_clicks=0, className="btn", type="button"
                ),
                html.Div(id="login-error", className="login-error", role="alert"),
            ],
            className="login-form",
        ),
        className="login-page",
    )


def _set_cookie(token: str, expires_ts: int) -> None:
    response = dash.callback_context.response
    response.set_cookie(
        COOKIE,
        token,
        expires=expires_ts / 1000,
        httponly=True,
        samesite="Strict",
        secure=flask.request.is_secure,
        path="/",
    )


def register_login(app: dash.Dash, client: ApiClient) -> None:
    """The login and logout callbacks."""

    def log_in(
        _n: int, _enter: int | None, username: str | None, password: str | None, lang: str | None
    ) -> tuple[Any, str]:
        if not username or not password:
            return dash.no_update, text("login.missing", lang_of(lang))
        try:
            answer = client.post("/auth/login", {"username": username, "password": password})
        except ApiError as err:
            return dash.no_update, str(err)
        except httpx.HTTPError as err:
            log.warning("dashboard cannot reach the API to log in: %s", err)
            return dash.no_update, f"cannot reach the SafeTwin API: {err}"
        _set_cookie(str(answer["token"]), int(answer["expires_ts"]))
        return "/", ""

    app.callback(
        Output("url", "pathname", allow_duplicate=True),
        Output("login-error", "children"),
        Input("login-submit", "n_clicks"),
        Input("login-password", "n_submit"),  # Enter in the password field logs in too
        State("login-user", "value"),
        State("login-password", "value"),
        State("lang", "data"),
        prevent_initial_call=True,
    )(log_in)

    def log_out(_n: int) -> str:
        try:
            client.post("/auth/logout", {})
        except (ApiError, httpx.HTTPError, ValueError) as err:  # the cookie goes either way
            log.info("logout at the API did not succeed: %s", err)
        # Dash's response adapter sets cookies only: an empty one that has already expired removes it.
        dash.callback_context.response.set_cookie(COOKIE, "", expires=0, max_age=0, path="/", httponly=True)
        return LOGIN_PATH

    app.callback(
        Output("url", "pathname", allow_duplicate=True),
        Input("logout", "n_clicks"),
        prevent_initial_call=True,
    )(log_out)
