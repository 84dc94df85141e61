"""Sign-in with the hospital's OpenID Connect provider, against a real provider (oidc-provider)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.oidc import IdentityProvider
from api.oidc_settings import OidcConfig, OidcSettingsError, oidc_config
from pathways.cli import cli
from pathways.store.database import database_engine, upgrade
from pathways.store.settings import Settings
from pathways.store.tokens import issue_token
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.integration.oidc_support import (
    REDIRECT_URL,
    oidc_issuer,
    page_token,
    provider_for_tests,
    sign_in,
)
from tests.integration.processes import free_port

__all__ = ["oidc_issuer"]  # the provider fixture, shared by every test here

ADMIN = "oidc-test-admin-token-0123456789"
MAPPING = "spine-navigators=navigator,lab-staff=lab"


def configured(environment: dict[str, str]) -> OidcConfig | None:
    """The OIDC settings carepath reads from these CAREPATH_* variables."""
    given = {name.removeprefix("CAREPATH_").lower(): value for name, value in environment.items()}
    return oidc_config(Settings(**given))


def settings(issuer: str, client_id: str = "carepath", mapping: str = MAPPING) -> OidcConfig:
    """The settings an operator would give for this provider."""
    found = configured(
        {
            "CAREPATH_OIDC_ISSUER": issuer,
            "CAREPATH_OIDC_CLIENT_ID": client_id,
            "CAREPATH_OIDC_CLIENT_SECRET": f"{client_id}-secret",
            "CAREPATH_OIDC_ROLE_MAP": mapping,
            "CAREPATH_OIDC_REDIRECT_URL": REDIRECT_URL,
            "CAREPATH_OIDC_SCOPES": "openid profile groups",
        }
    )
    assert found is not None
    return found


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database (these tests are about tokens, not storage)."""
    url = f"sqlite:///{tmp_path / 'carepath.db'}"
    upgrade(url)
    engine = database_engine(url)
    yield engine
    engine.dispose()


def client_for(engine: Engine, config: OidcConfig | None) -> TestClient:
    """A test client of the API with these OIDC settings."""
    return TestClient(create_app(engine, lambda _event: None, ADMIN, oidc=config))


@pytest.fixture
def carepath(sqlite: Engine, oidc_issuer: str) -> Iterator[TestClient]:
    """The API, signing in with the test provider as client `carepath`."""
    with client_for(sqlite, settings(oidc_issuer)) as client:
        yield client


def me(client: TestClient, token: str) -> httpx.Response:
    return client.get("/me", headers={"Authorization": f"Bearer {token}"})


def refused(answer: httpx.Response, status: int, words: str) -> None:
    """The answer is a problem+json with this status whose detail says `words`."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert words in answer.json()["detail"], answer.json()["detail"]


def segments(token: str) -> list[str]:
    return token.split(".")


def encoded(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def decoded(segment: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(base64.urlsafe_b64decode(segment + "=" * 4))
    return found


def test_the_full_code_flow_with_pkce_ends_with_a_credential_that_me_accepts(
    engine: Engine, oidc_issuer: str
) -> None:
    with client_for(engine, settings(oidc_issuer)) as client:
        started = client.get("/auth/login", follow_redirects=False)
        assert "code_challenge_method=S256" in started.headers["location"]
        finished = sign_in(client, "nina.navigator")
        assert finished.headers["location"] == "/#/signed-in"  # no credential in the URL
        collected = client.post("/auth/session")
        assert collected.status_code == 200
        assert collected.json()["expires_at"] > time.time()
        answer = me(client, collected.json()["token"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["actor"] == "nina.navigator"
        assert answer.json()["role"] == "navigator"
        # handed over once: a second collection finds nothing
        refused(client.post("/auth/session"), 401, "no sign-in is waiting")


def test_a_provider_token_is_accepted_with_the_role_its_group_maps_to(
    carepath: TestClient,
) -> None:
    token = page_token(carepath, "leo.lab")
    answer = me(carepath, token).json()
    expires = datetime.fromisoformat(answer.pop("expires_at"))
    assert answer == {
        "actor": "leo.lab",
        "role": "lab",
        "permissions": ["read", "queue", "work"],
        "sees_patients": True,
    }
    # /me tells the page when the provider's token runs out: its exp claim
    assert expires == datetime.fromtimestamp(decoded(segments(token)[1])["exp"], UTC)


def test_an_es256_signed_token_is_accepted(sqlite: Engine, oidc_issuer: str) -> None:
    with client_for(sqlite, settings(oidc_issuer, "carepath-es256")) as client:
        token = page_token(client, "nina.navigator")
        assert decoded(segments(token)[0])["alg"] == "ES256"
        assert me(client, token).json()["role"] == "navigator"


def test_a_token_for_another_application_is_refused_with_401(
    carepath: TestClient, sqlite: Engine, oidc_issuer: str
) -> None:
    with client_for(sqlite, settings(oidc_issuer, "other-app")) as other:
        token = page_token(other, "nina.navigator")
    refused(me(carepath, token), 401, "Audience doesn't match")


def test_an_expired_token_is_refused_with_401(carepath: TestClient, oidc_issuer: str) -> None:
    token = page_token(carepath, "nina.navigator")
    later = IdentityProvider(settings(oidc_issuer), clock=lambda: time.time() + 2 * 3600)
    carepath.app.state.oidc = later  # type: ignore[attr-defined]
    refused(me(carepath, token), 401, "expired")


def test_a_token_with_a_changed_group_claim_is_refused_with_401(carepath: TestClient) -> None:
    header, payload, signature = segments(page_token(carepath, "leo.lab"))
    claims = decoded(payload)
    claims["groups"] = ["spine-navigators"]  # a lab user promoting themselves
    refused(me(carepath, f"{header}.{encoded(claims)}.{signature}"), 401, "Signature")


def test_unsigned_and_hmac_tokens_are_refused_with_401(
    carepath: TestClient, oidc_issuer: str
) -> None:
    header, payload, _ = segments(page_token(carepath, "nina.navigator"))
    unsigned = f"{encoded({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    refused(me(carepath, unsigned), 401, "none are not accepted")
    # HS256 "signed" with the provider's public key, which anyone can fetch
    public = httpx.get(f"{oidc_issuer}/jwks").text.encode()
    forged_header = encoded({**decoded(header), "alg": "HS256"})
    mac = hmac.new(public, f"{forged_header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{forged_header}.{payload}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    refused(me(carepath, forged), 401, "HS256 are not accepted")


def test_a_user_whose_groups_map_to_no_role_gets_403_naming_the_claim_and_mapping(
    carepath: TestClient, sqlite: Engine, oidc_issuer: str
) -> None:
    # the browser comes back to the page, which learns why from /auth/session
    assert sign_in(carepath, "vic.visitor").headers["location"] == "/#/signed-in"
    refused(carepath.post("/auth/session"), 403, "'groups' claim (visitors)")
    with client_for(sqlite, settings(oidc_issuer, mapping="visitors=dashboard")) as lenient:
        token = page_token(lenient, "vic.visitor")
    refused(me(carepath, token), 403, f"maps {MAPPING.replace(',', ', ')}")


def test_an_unknown_key_refetches_the_keys_at_most_once_a_minute(
    carepath: TestClient, oidc_issuer: str
) -> None:
    token = page_token(carepath, "nina.navigator")
    fetches: list[str] = []
    now = [time.time()]
    counting = httpx.Client(event_hooks={"request": [lambda r: fetches.append(r.url.path)]})
    provider = IdentityProvider(settings(oidc_issuer), http=counting, clock=lambda: now[0])
    carepath.app.state.oidc = provider  # type: ignore[attr-defined]
    with counting:
        assert me(carepath, token).status_code == 200
        header, payload, signature = segments(token)
        rotated = f"{encoded({**decoded(header), 'kid': 'retired'})}.{payload}.{signature}"
        for _ in range(3):
            refused(me(carepath, rotated), 401, "'retired', unknown to the provider")
        now[0] += 61
        for _ in range(3):
            refused(me(carepath, rotated), 401, "'retired', unknown to the provider")
    assert fetches.count("/jwks") == 2


def test_keys_the_provider_rotates_are_fetched_when_a_token_names_a_new_one(
    sqlite: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    provider = provider_for_tests(tmp_path_factory)
    provider.start(generation=1)
    now = [time.time()]
    try:
        with client_for(sqlite, settings(provider.issuer)) as client:
            checking = IdentityProvider(settings(provider.issuer), clock=lambda: now[0])
            client.app.state.oidc = checking  # type: ignore[attr-defined]
            before = page_token(client, "nina.navigator")
            provider.stop()
            provider.start(generation=2)  # new keys, new key ids
            now[0] += 61
            after = page_token(client, "nina.navigator")
            assert decoded(segments(after)[0])["kid"] == "rs-2"
            assert me(client, after).json()["role"] == "navigator"
            refused(me(client, before), 401, "key 'rs-1', unknown to the provider")
    finally:
        provider.stop()


def test_a_callback_without_the_browsers_state_is_refused_with_400(carepath: TestClient) -> None:
    carepath.get("/auth/login", follow_redirects=False)
    refused(carepath.get("/auth/callback?state=guessed&code=x"), 400, "state:")
    refused(carepath.get("/auth/callback", params={"state": "é", "code": "x"}), 400, "state:")


def test_the_sign_in_cookie_cannot_be_passed_off_as_the_pages_credential(
    carepath: TestClient,
) -> None:
    carepath.get("/auth/login", follow_redirects=False)
    flow = carepath.cookies["carepath_oidc_flow"]
    passed_off = {"Cookie": f"carepath_oidc_handoff={flow}"}
    refused(carepath.post("/auth/session", headers=passed_off), 401, "no sign-in is waiting")


def test_a_code_the_provider_refuses_is_reported_to_the_page_with_400(carepath: TestClient) -> None:
    location = carepath.get("/auth/login", follow_redirects=False).headers["location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    carepath.get(f"/auth/callback?state={state}&code=not-a-real-code", follow_redirects=False)
    refused(carepath.post("/auth/session"), 400, "the sign-in provider refused the code")


def test_an_answer_from_another_issuer_is_refused(carepath: TestClient) -> None:
    location = carepath.get("/auth/login", follow_redirects=False).headers["location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    mixed_up = f"/auth/callback?state={state}&code=x&iss=https://evil.example"
    carepath.get(mixed_up, follow_redirects=False)
    refused(carepath.post("/auth/session"), 400, "iss: the answer comes from")


def test_the_sign_in_page_offers_the_hospital_only_when_configured(
    carepath: TestClient, sqlite: Engine
) -> None:
    assert carepath.get("/auth/config").json() == {"enabled": True, "login_url": "/auth/login"}
    with client_for(sqlite, None) as plain:
        assert plain.get("/auth/config").json() == {"enabled": False, "login_url": None}
        refused(plain.get("/auth/login"), 404, "CAREPATH_OIDC_ISSUER")


def test_a_provider_that_cannot_be_reached_gives_503_not_a_hang_or_500(
    carepath: TestClient, sqlite: Engine
) -> None:
    token = page_token(carepath, "nina.navigator")
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with client_for(sqlite, settings(nowhere)) as cut_off:
        refused(me(cut_off, token), 503, "the sign-in provider did not answer")
        refused(cut_off.get("/auth/login"), 503, "the sign-in provider is not usable")


def test_a_pasted_carepath_token_still_signs_in_when_oidc_is_on(
    carepath: TestClient, sqlite: Engine
) -> None:
    with SqlAlchemyUnitOfWork(sqlite) as uow:
        token = issue_token(uow.session, "radiology", "rita.radiology", datetime.now(UTC))
        uow.commit()
    assert me(carepath, token).json()["role"] == "radiology"


def test_settings_name_the_variable_to_fix() -> None:
    assert configured({}) is None
    base = {"CAREPATH_OIDC_ISSUER": "https://idp.example/realms/h/"}
    with pytest.raises(OidcSettingsError, match="CAREPATH_OIDC_CLIENT_ID"):
        configured(base)
    with pytest.raises(OidcSettingsError, match="'surgeons' is not a carepath role"):
        configured({**base, "CAREPATH_OIDC_CLIENT_ID": "c", "CAREPATH_OIDC_ROLE_MAP": "s=surgeons"})
    with pytest.raises(OidcSettingsError, match="'lab-staff' is not GROUP=ROLE"):
        configured({**base, "CAREPATH_OIDC_CLIENT_ID": "c", "CAREPATH_OIDC_ROLE_MAP": "lab-staff"})
    found = configured({**base, "CAREPATH_OIDC_CLIENT_ID": "c", "CAREPATH_OIDC_ROLE_MAP": MAPPING})
    assert found is not None
    assert found.issuer == "https://idp.example/realms/h/"  # as given: iss is compared exactly
    assert found.role_map == (("spine-navigators", "navigator"), ("lab-staff", "lab"))


def test_carepath_api_refuses_to_start_with_a_role_map_naming_an_unknown_role() -> None:
    environment = {
        "CAREPATH_ADMIN_TOKEN": ADMIN,
        "CAREPATH_BROKER_URL": "redis://127.0.0.1:1/0",
        "CAREPATH_OIDC_ISSUER": "https://idp.example/realms/hospital",
        "CAREPATH_OIDC_CLIENT_ID": "carepath",
        "CAREPATH_OIDC_ROLE_MAP": "spine-navigators=navigators",
    }
    result = CliRunner().invoke(cli, ["api"], env=environment)
    assert result.exit_code == 2
    assert "CAREPATH_OIDC_ROLE_MAP: 'navigators' is not a carepath role" in result.output
