"""The signing keys: only `users` holds the private key, the JWK Set publishes the public ones,
and a rotation signs nobody out."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import jwt
import yaml

from shared.deploy.common import KEY_FILE_SECRET_NAMES, REPOSITORY_ROOT
from shared.function_secrets import FUNCTION_SECRETS, SIGNING_KEYS, environment_for
from shared.functions import FUNCTIONS
from shared.settings import Settings
from shared.signing import ACCESS_TOKEN_SECONDS_MAX, CLOCK_LEEWAY_SECONDS, rotate, write_key_files
from tests.security.sessions_support import sign_in, sign_up

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def test_the_jwk_set_serves_the_public_keys_that_verify_the_tokens(client_of):
    # GIVEN a signed-in user
    users = client_of("users")
    sign_up(users, "ada@example.com")
    session = sign_in(users, "ada@example.com")
    # WHEN the JWK Set and the discovery document are fetched, without a token
    published = users.get("/.well-known/jwks.json")
    discovery = users.get("/.well-known/openid-configuration")
    # THEN the set holds public Ed25519 keys only
    assert published.status_code == 200
    keys = published.get_json()["keys"]
    assert keys and all(key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA" for key in keys)
    assert not [key for key in keys if PRIVATE_MEMBERS & set(key)]
    # AND one of them verifies the access token, which names it by kid
    kid = jwt.get_unverified_header(session.access_token)["kid"]
    (jwk,) = [key for key in keys if key["kid"] == kid]
    claims = jwt.decode(session.access_token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], audience="paystream-api")
    assert claims["sub"] == session.user_id and claims["exp"] - claims["iat"] <= ACCESS_TOKEN_SECONDS_MAX
    assert {"aud", "iss", "jti", "sid", "ver"} <= set(claims)
    # AND discovery points at the set
    assert discovery.status_code == 200
    assert discovery.get_json()["jwks_uri"].endswith("/.well-known/jwks.json")
    assert "EdDSA" in discovery.get_json()["id_token_signing_alg_values_supported"]


def test_a_rotation_signs_with_the_new_key_and_keeps_the_old_tokens_valid(client_of, runtime):
    # GIVEN a user signed in before the rotation
    users, wallets = client_of("users"), client_of("wallets")
    sign_up(users, "ben@example.com")
    before = sign_in(users, "ben@example.com")
    old_kid = jwt.get_unverified_header(before.access_token)["kid"]
    # WHEN the keys are rotated, with the command operators run, while the platform runs
    settings = runtime.settings
    rotated = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.cli",
            "keys",
            "rotate",
            "--signing-keys-file",
            str(settings.signing_keys_file),
            "--verification-keys-file",
            str(settings.verification_keys_file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPOSITORY_ROOT,
    )
    assert rotated.returncode == 0, rotated.stderr
    # THEN the token signed before is still accepted: nobody is signed out
    assert wallets.get("/v1/wallets", headers=before.auth).status_code == 200
    # AND a new sign-in is signed with the new key, which every function accepts too
    after = sign_in(users, "ben@example.com")
    new_kid = jwt.get_unverified_header(after.access_token)["kid"]
    assert new_kid != old_kid
    assert wallets.get("/v1/wallets", headers=after.auth).status_code == 200
    # AND both keys are published, the old one until its tokens have expired
    published = {key["kid"] for key in users.get("/.well-known/jwks.json").get_json()["keys"]}
    assert {old_kid, new_kid} <= published
    # AND the ring keeps only the private key that signs now
    ring = json.loads(Path(str(settings.signing_keys_file)).read_text())
    assert [key["kid"] for key in ring["keys"]] == [new_kid]


def test_the_old_key_stops_verifying_once_every_token_it_signed_has_expired():
    # GIVEN key files rotated once at t0
    t0 = 1_800_000_000
    signing, verification, first = rotate(None, None, now=t0)
    signing, verification, second = rotate(signing, verification, now=t0 + 60)
    assert [key["kid"] for key in verification["keys"]] == [first, second]
    # WHEN they are rotated again before the first key's last token expired, it is kept
    within = t0 + 60 + ACCESS_TOKEN_SECONDS_MAX
    _, kept, third = rotate(signing, verification, now=within)
    assert [key["kid"] for key in kept["keys"]] == [first, second, third]
    # AND once that time has passed, it is dropped
    past = t0 + 60 + ACCESS_TOKEN_SECONDS_MAX + CLOCK_LEEWAY_SECONDS
    _, dropped, _ = rotate(signing, verification, now=past)
    assert first not in {key["kid"] for key in dropped["keys"]}


def test_a_key_that_activates_later_is_published_before_it_signs(tmp_path):
    signing_path, verification_path = tmp_path / "signing.json", tmp_path / "verification.json"
    t0 = int(time.time())
    first = write_key_files(signing_path, verification_path, now=t0)
    second = write_key_files(signing_path, verification_path, now=t0 + 10, activate_after_seconds=120)
    published = [key["kid"] for key in json.loads(verification_path.read_text())["keys"]]
    ring = json.loads(signing_path.read_text())["keys"]
    assert published == [first, second]
    # Until it activates, the ring keeps the key that signs now, and the next one.
    assert [key["kid"] for key in ring] == [first, second]
    assert (signing_path.stat().st_mode & 0o777) == 0o600


def _knative_services(tree: Path) -> dict[str, dict]:
    services = {}
    for path in sorted(tree.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "Service" and "serving.knative.dev" in document["apiVersion"]:
                services[document["metadata"]["name"]] = document
    return services


def test_only_users_holds_the_signing_key_in_the_rendered_manifests_and_terraform():
    # Knative: only users mounts the signing keys' Secret, or names the variable
    services = _knative_services(REPOSITORY_ROOT / "knative" / "base")
    assert set(services) == {function.name for function in FUNCTIONS}
    for name, service in services.items():
        text = json.dumps(service)
        holds = KEY_FILE_SECRET_NAMES[SIGNING_KEYS.name] in text or SIGNING_KEYS.variable in text
        assert holds == (name == "users"), name
    # Terraform: only users' role may read the signing keys' secret
    topology = json.loads((REPOSITORY_ROOT / "terraform" / "topology.json").read_text())
    readers = {name for name, function in topology["functions"].items() if SIGNING_KEYS.name in function["secrets"]}
    assert readers == {"users"}


def test_only_users_loads_the_signing_key_in_its_settings(monkeypatch, tmp_path):
    # GIVEN the environment the local services mode starts its function processes from
    environment = {
        "PAYSTREAM_SECRET_KEY": "k" * 40,
        "PAYSTREAM_SIGNING_KEYS_FILE": str(tmp_path / "signing.json"),
        "PAYSTREAM_VERIFICATION_KEYS_FILE": str(tmp_path / "verification.json"),
    }
    for function in FUNCTIONS:
        # WHEN one function's settings are loaded from what it is given
        for name in environment:
            monkeypatch.delenv(name, raising=False)
        for name, value in environment_for(function.name, environment).items():
            monkeypatch.setenv(name, value)
        settings = Settings()
        # THEN only users has a signing key; only the functions that derive keys have the secret
        # key (accounts, users, payments); clients verify
        assert (settings.signing_keys_file is not None) == (function.name == "users"), function.name
        assert (settings.secret_key is not None) == (function.name in {"accounts", "users", "payments"}), function.name
        assert (settings.verification_keys_file is not None) == function.serves_clients, function.name
        assert {secret.variable for secret in FUNCTION_SECRETS[function.name]} >= set(
            environment_for(function.name, environment)
        )


def test_dropping_the_previous_keys_after_a_leak_refuses_their_tokens_at_once(client_of, runtime):
    # GIVEN a signed-in user
    users, wallets = client_of("users"), client_of("wallets")
    sign_up(users, "cy@example.com")
    before = sign_in(users, "cy@example.com")
    # WHEN the keys are rotated with every previous key dropped (the ring leaked)
    settings = runtime.settings
    write_key_files(
        Path(str(settings.signing_keys_file)),
        Path(str(settings.verification_keys_file)),
        now=int(time.time()),
        drop_previous=True,
    )
    # THEN the old access token is refused at once, and the refresh token gets a working one
    assert wallets.get("/v1/wallets", headers=before.auth).status_code == 401
    refreshed = users.post(
        "/v1/oauth/token", data={"grant_type": "refresh_token", "refresh_token": before.refresh_token}
    )
    assert refreshed.status_code == 200
    headers = {"Authorization": f"Bearer {refreshed.get_json()['access_token']}"}
    assert wallets.get("/v1/wallets", headers=headers).status_code == 200
