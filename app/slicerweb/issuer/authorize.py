"""The browser side: /authorize (the login page), /login (its form), /end-session (sign-out).

An unknown client or a redirect_uri that is not registered for it *exactly* gets an error page,
never a redirect (RFC 6749 §4.1.2.1); every other problem goes back to the client as `error=...`
with its `state`. Public clients must send a PKCE S256 challenge. The login form is bound to its
pending request by a random token and to the browser by a cookie (no login CSRF); failed logins
are throttled per username and client address; wrong user and wrong password read the same.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from quart import Blueprint, Response, request

from .clients import Client, origin_of
from .config import IssuerConfig, granted_scope
from .events import record
from .grants import CodeGrant, PendingFields, PendingRequest, Session
from .pages import login_page, message_page

BAD_LOGIN = "Wrong username or password."
MAX_PARAMETER = 1024          # state, nonce, scope: generous for real clients, bounded for hostile ones
_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")


def create_blueprint(config: IssuerConfig) -> Blueprint:
    blueprint = Blueprint("signin", __name__)
    grants = config.grants
    session_cookie = "__Host-slicerweb-issuer-session" if config.secure_cookies else "slicerweb-issuer-session"
    browser_cookie = "__Host-slicerweb-issuer-browser" if config.secure_cookies else "slicerweb-issuer-browser"

    def set_cookie(response: Response, name: str, value: str, max_age: int, same_site: str) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=config.secure_cookies,
                            httponly=True, samesite=same_site)

    def current_session() -> Session | None:
        return grants.sessions.get(request.cookies.get(session_cookie, ""))

    def finish(pending: PendingRequest, session: Session, user_scopes: tuple[str, ...]) -> Response:
        client = config.clients[pending.client_id]
        code = grants.issue_code(CodeGrant(pending.client_id, pending.redirect_uri, pending.challenge,
                                           session.username, granted_scope(client, pending.scope, user_scopes),
                                           pending.nonce, session.auth_time, session.id))
        return _back_to_client(config, pending.redirect_uri, pending.state, code=code)

    @blueprint.get("/authorize")
    async def authorize() -> Response:
        args = request.args
        client = config.clients.get(args.get("client_id", ""))
        redirect_uri = args.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            return message_page("Sign-in refused", "Unknown client, or a redirect_uri that is not registered "
                                "for it exactly. Nothing was sent back to the application.", 400)
        state = args.get("state")
        problem = _request_problem(client, args)
        if problem:
            return _back_to_client(config, redirect_uri, state, error=problem[0], description=problem[1])
        browser = request.cookies.get(browser_cookie) or secrets.token_urlsafe(24)
        fields: PendingFields = {
            "client_id": client.client_id, "redirect_uri": redirect_uri, "scope": args.get("scope", ""),
            "state": state, "nonce": args.get("nonce"), "challenge": args.get("code_challenge"), "browser": browser}
        prompt = args.get("prompt", "").split()
        session = current_session()
        user = config.users.users.get(session.username) if session else None
        if session is not None and user is not None and "login" not in prompt:
            return finish(PendingRequest(id="", **fields), session, user.scopes)   # signed in already
        if "none" in prompt:
            return _back_to_client(config, redirect_uri, state, error="login_required",
                                   description="no sign-in session at the issuer")
        pending = grants.open_pending(**fields)
        response = login_page(request_id=pending.id, csrf=pending.csrf, client_id=client.client_id,
                              redirect_origin=origin_of(redirect_uri))
        set_cookie(response, browser_cookie, browser, 3600, "Strict")
        return response

    @blueprint.post("/login")
    async def login() -> Response:
        form = await request.form
        pending = grants.pending.get(form.get("request", ""))
        if pending is None:
            return message_page("Sign-in expired", "This sign-in request is unknown or has expired. "
                                "Go back to the application and sign in again.", 400)
        if not (secrets.compare_digest(form.get("csrf", ""), pending.csrf)
                and secrets.compare_digest(request.cookies.get(browser_cookie, ""), pending.browser)):
            record("login.csrf_refused", client_id=pending.client_id, address=request.remote_addr)
            return message_page("Sign-in refused", "The sign-in form could not be verified (CSRF check "
                                "failed). Go back to the application and sign in again.", 403)
        username, address = form.get("username", "")[:MAX_PARAMETER], request.remote_addr or ""

        def again(error: str, status: int, retry_after: int | None = None) -> Response:
            return login_page(request_id=pending.id, csrf=pending.csrf, client_id=pending.client_id,
                              username=username, error=error, status=status, retry_after=retry_after,
                              redirect_origin=origin_of(pending.redirect_uri))

        wait = config.throttle.wait(username, address)
        if wait > 0:
            seconds = math.ceil(wait)
            record("login.throttled", username=username, address=address, wait=seconds)
            return again(f"Too many failed sign-ins. Try again in {seconds} s.", 429, seconds)
        # scrypt costs ~50 ms of CPU: off the event loop, so other requests keep flowing.
        user = await asyncio.to_thread(config.users.check, username, form.get("password", "")[:MAX_PARAMETER])
        if user is None:
            config.throttle.failed(username, address)
            record("login.failed", username=username, address=address, client_id=pending.client_id)
            return again(BAD_LOGIN, 401)
        config.throttle.succeeded(username, address)
        grants.pending.pop(pending.id)
        previous = current_session()
        if previous is not None:
            grants.end_session(previous.id)
        session = grants.open_session(user.username)
        record("login.ok", username=user.username, address=address, client_id=pending.client_id)
        response = finish(pending, session, user.scopes)
        set_cookie(response, session_cookie, session.id, int(grants.session_lifetime), "Lax")
        return response

    @blueprint.route("/end-session", methods=["GET", "POST"])
    async def end_session() -> Response:
        params = request.args if request.method == "GET" else await request.form
        target, state = params.get("post_logout_redirect_uri"), params.get("state")
        client = _logout_client(config, params)
        if target is not None and (client is None or target not in client.post_logout_redirect_uris):
            return message_page("Sign-out refused", "post_logout_redirect_uri is not registered for this "
                                "client exactly; you are still signed in.", 400)
        session = current_session()
        if session is not None:
            grants.end_session(session.id)
            record("logout", username=session.username, address=request.remote_addr)
        if target is None:
            response = message_page("Signed out", "You are signed out of the SlicerWeb issuer.", 200)
        else:
            response = _back_to_client(config, target, state, add_issuer=False)
        response.delete_cookie(session_cookie, path="/", secure=config.secure_cookies, httponly=True,
                               samesite="Lax")
        return response

    return blueprint


def _request_problem(client: Client, args: Any) -> tuple[str, str] | None:
    """(error, description) for a bad authorization request from a known client, else None."""
    if args.get("response_type") != "code":
        return "unsupported_response_type", "only response_type=code"
    if any(len(args.get(name, "")) > MAX_PARAMETER for name in ("state", "nonce", "scope")):
        return "invalid_request", f"state, nonce and scope are limited to {MAX_PARAMETER} characters"
    challenge, method = args.get("code_challenge"), args.get("code_challenge_method")
    if challenge is None and client.public:
        return "invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256"
    if challenge is not None and (method != "S256" or not _CHALLENGE.fullmatch(challenge)):
        return "invalid_request", "code_challenge_method must be S256 with a 43-128 character challenge"
    return None


def _logout_client(config: IssuerConfig, params: Any) -> Client | None:
    """The client named by client_id, or by the audience of an id_token_hint this issuer signed."""
    if params.get("client_id"):
        return config.clients.get(params["client_id"])
    try:
        claims = jwt.decode(params.get("id_token_hint", ""), config.keys.current, algorithms=["RS256"]).claims
    except (JoseError, ValueError):
        return None
    # An expired hint still names its client; only the signature and the issuer must hold.
    return config.clients.get(str(claims.get("aud"))) if claims.get("iss") == config.issuer else None


def _back_to_client(config: IssuerConfig, uri: str, state: str | None, *, add_issuer: bool = True,
                    **fields: str) -> Response:
    if "description" in fields:
        fields["error_description"] = fields.pop("description")
    query = {**fields, **({"state": state} if state is not None else {}),
             **({"iss": config.issuer} if add_issuer else {})}
    separator = "&" if "?" in uri else "?"
    response = Response("", status=303)   # no body: the code appears once, in Location
    response.headers["Location"] = f"{uri}{separator}{urlencode(query)}" if query else uri
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
