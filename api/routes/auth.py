"""Sign-in with the hospital's OpenID Connect provider: authorization code flow with PKCE.

/auth/login keeps state, nonce and the PKCE verifier in a short-lived signed cookie (nothing
else, no PHI) and sends the browser to the provider; /auth/callback checks the state, redeems
the code, validates the ID token (nonce included) and leaves it, or why sign-in failed, in a
one-minute cookie that only POST /auth/session reads, once: the credential is never in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Cookie, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

from api.oidc import IdentityProvider, NoRole, ProviderUnreachable, TokenRefused
from api.problems import problem
from api.signed_cookies import sign, unsign

FLOW_COOKIE = "carepath_oidc_flow"
HANDOFF_COOKIE = "carepath_oidc_handoff"
FLOW_SECONDS = 600  # time to sign in at the provider
HANDOFF_SECONDS = 60  # time for the page to collect its credential after the redirect

_PROCESS_SECRET = secrets.token_bytes(32)  # only for an app without an admin token (tests)

router = APIRouter(prefix="/auth", tags=["session"])


class AuthConfig(BaseModel):
    """Whether sign-in with the hospital's provider is offered, and where it starts."""

    enabled: bool
    login_url: str | None


class SignedIn(BaseModel):
    """The page's credential: the provider's ID token, a bearer token until `expires_at`."""

    token: str
    expires_at: int


def _provider(request: Request) -> IdentityProvider:
    found: IdentityProvider | None = request.app.state.oidc
    if found is None:
        raise HTTPException(
            404, "sign-in with the hospital is not configured (set CAREPATH_OIDC_ISSUER)"
        )
    return found


def _key(request: Request) -> bytes:
    # Derived from the admin token, so every replica started alike accepts another's cookies.
    secret = request.app.state.admin_token.encode() or _PROCESS_SECRET
    return hmac.new(secret, b"carepath oidc cookies", hashlib.sha256).digest()


def _redirect_url(request: Request, provider: IdentityProvider) -> str:
    return provider.config.redirect_url or str(request.url_for("oidc_callback"))


@router.get("/config")
def auth_config(request: Request) -> AuthConfig:
    """Whether the sign-in page offers "Sign in with the hospital" (no authentication)."""
    enabled = request.app.state.oidc is not None
    return AuthConfig(enabled=enabled, login_url="/auth/login" if enabled else None)


@router.get("/login", response_class=RedirectResponse, status_code=303)
def login(request: Request) -> RedirectResponse:
    """Start sign-in: redirect to the provider with state, nonce and a PKCE S256 challenge."""
    provider = _provider(request)
    try:
        endpoint = str(provider.metadata()["authorization_endpoint"])
    except (ProviderUnreachable, KeyError) as error:
        raise HTTPException(503, f"the sign-in provider is not usable: {error}") from error
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": provider.config.client_id,
        "redirect_uri": _redirect_url(request, provider),
        "scope": provider.config.scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    response = RedirectResponse(f"{endpoint}?{urlencode(query)}", status_code=303)
    flow = {"state": state, "nonce": nonce, "verifier": verifier}
    response.set_cookie(
        FLOW_COOKIE,
        sign(_key(request), FLOW_COOKIE, flow, FLOW_SECONDS),
        max_age=FLOW_SECONDS,
        path="/auth/callback",
        httponly=True,
        secure=_redirect_url(request, provider).startswith("https:"),
        samesite="lax",  # the provider's redirect back is a cross-site top-level GET
    )
    return response


@router.get("/callback", name="oidc_callback", response_class=RedirectResponse, status_code=303)
def callback(
    request: Request,
    state: str = "",
    code: str = "",
    error: str = "",
    iss: str | None = None,
    flow: Annotated[str | None, Cookie(alias=FLOW_COOKIE)] = None,
) -> RedirectResponse:
    """Finish sign-in: check state, redeem the code with the verifier, validate the ID token.

    The page learns the outcome from POST /auth/session: the credential, or the problem.
    """
    provider = _provider(request)
    started = unsign(_key(request), FLOW_COOKIE, flow)
    if started is None or not hmac.compare_digest(str(started["state"]).encode(), state.encode()):
        raise HTTPException(
            400,
            "state: this answer does not belong to a sign-in started in this browser in the "
            "last 10 minutes; start again at /auth/login",
        )
    try:
        handoff = _finish(request, provider, started, code, error, iss)
    except HTTPException as failed:
        handoff = {"status": failed.status_code, "detail": failed.detail}
    response = RedirectResponse("/#/signed-in", status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/auth/callback")
    response.set_cookie(
        HANDOFF_COOKIE,
        sign(_key(request), HANDOFF_COOKIE, handoff, HANDOFF_SECONDS),
        max_age=HANDOFF_SECONDS,
        path="/auth/session",
        httponly=True,
        secure=_redirect_url(request, provider).startswith("https:"),
        samesite="strict",  # only the page itself, same-site, collects it
    )
    return response


def _finish(
    request: Request,
    provider: IdentityProvider,
    started: dict[str, Any],
    code: str,
    error: str,
    iss: str | None,
) -> dict[str, Any]:
    """The page's credential for an answer whose state matched; HTTPException if refused."""
    if error:
        raise HTTPException(400, f"the sign-in provider answered {error[:80]!r}; try again")
    if iss is not None and iss != provider.config.issuer:  # RFC 9207: mix-up defence
        raise HTTPException(400, f"iss: the answer comes from {iss[:200]!r}, not our provider")
    id_token = _redeem(request, provider, code, str(started["verifier"]))
    try:
        claims = provider.verify(id_token, nonce=str(started["nonce"]))
        provider.principal(claims)
    except TokenRefused as refused:
        raise HTTPException(401, f"the provider's ID token was refused: {refused}") from refused
    except NoRole as unmapped:
        raise HTTPException(403, str(unmapped)) from unmapped
    return {"token": id_token, "expires_at": int(claims["exp"])}


def _redeem(request: Request, provider: IdentityProvider, code: str, verifier: str) -> str:
    """The ID token the provider's token endpoint gives for `code` and the PKCE verifier."""
    config = provider.config
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _redirect_url(request, provider),
        "code_verifier": verifier,
    }
    auth = None
    if config.client_secret:
        auth = httpx.BasicAuth(config.client_id, config.client_secret)
    else:  # a public client names itself in the form
        form["client_id"] = config.client_id
    try:
        endpoint = str(provider.metadata()["token_endpoint"])
        answer = provider.send("POST", endpoint, data=form, auth=auth)
        body = answer.json()
    except (ProviderUnreachable, KeyError, httpx.HTTPError, ValueError) as error:
        raise HTTPException(503, "the sign-in provider's token endpoint did not answer") from error
    if answer.status_code != 200 or not isinstance(body.get("id_token"), str):
        reason = str(body.get("error", answer.status_code))[:80]
        raise HTTPException(400, f"the sign-in provider refused the code ({reason}); try again")
    token: str = body["id_token"]
    return token


@router.post("/session", responses={200: {"model": SignedIn}, 400: {}, 403: {}, 503: {}})
def collect(
    request: Request, handoff: Annotated[str | None, Cookie(alias=HANDOFF_COOKIE)] = None
) -> JSONResponse:
    """The credential /auth/callback left for this browser, handed over once (then forgotten)."""
    found = unsign(_key(request), HANDOFF_COOKIE, handoff)
    if found is None:
        raise HTTPException(
            401, "no sign-in is waiting for this browser (it lasts a minute); sign in again"
        )
    if "detail" in found:  # the sign-in failed after the browser came back: say why, once
        failed = problem(found["status"], found["detail"], request)
        failed.delete_cookie(HANDOFF_COOKIE, path="/auth/session")
        return failed
    signed_in = SignedIn(token=found["token"], expires_at=found["expires_at"])
    response = JSONResponse(signed_in.model_dump(), headers={"Cache-Control": "no-store"})
    response.delete_cookie(HANDOFF_COOKIE, path="/auth/session")
    return response
