"""The keys that sign and verify access tokens: Ed25519 (EdDSA) key pairs, kept as JWKs.

Two files hold them, each a JWK Set (RFC 7517):

- the *signing key ring* (`PAYSTREAM_SIGNING_KEYS_FILE`): private keys, read by `users` alone.
  It holds the key that signs now and, right after a rotation, the one that will sign next;
- the *verification keys* (`PAYSTREAM_VERIFICATION_KEYS_FILE`): the public halves of every key
  that signed or will sign a token still alive, read by every function that authenticates a
  caller, and published at `/.well-known/jwks.json`.

Every key carries `active_from` (epoch seconds): the ring signs with the newest key whose time
has come. A rotation (`paystream keys rotate`) adds a key to both files at once; its public half
is known to every verifier before it signs (after `activate_after_seconds`), and the key it
replaces keeps verifying until every token it signed has expired (ACCESS_TOKEN_SECONDS_MAX
after its successor took over, plus a leeway), so nobody is signed out. Keys past that are
dropped at the next rotation.

Both files are read again when they change (a Kubernetes Secret mounted as a volume is updated
in place), so a rotation needs no restart.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from shared.ids import new_id
from shared.settings import ConfigurationError

__all__ = [
    "ACCESS_TOKEN_SECONDS_MAX",
    "CLOCK_LEEWAY_SECONDS",
    "SIGNING_ALGORITHM",
    "VERIFYING_ALGORITHMS",
    "KeyFile",
    "SigningKey",
    "generate_key",
    "public_jwks",
    "rotate",
    "signing_key_at",
    "signing_ring_of",
    "verification_keys_of",
    "write_key_files",
]

SIGNING_ALGORITHM = "EdDSA"
# What a verifier accepts: Ed25519, and ES256 for keys made elsewhere (an HSM, a cloud KMS).
VERIFYING_ALGORITHMS = ("EdDSA", "ES256")
# No access token lives longer than this, whatever its `exp` says (verification caps it).
ACCESS_TOKEN_SECONDS_MAX = 15 * 60
# How far apart two machines' clocks may be: an `iat` this far in the future is still accepted.
CLOCK_LEEWAY_SECONDS = 30
# The members of a published JWK: its public half and what it is for, nothing else.
_PUBLIC_MEMBERS = ("kty", "crv", "x", "y", "kid", "alg", "use")
_ALGORITHM_OF_CURVE = {"Ed25519": "EdDSA", "P-256": "ES256"}


@dataclass(frozen=True)
class SigningKey:
    """The private key that signs now, and the `kid` that names it in a token's header."""

    kid: str
    key: Any
    algorithm: str


def generate_key(*, active_from: int) -> dict[str, Any]:
    """A new Ed25519 private JWK with a fresh `kid`, signing from `active_from`."""
    jwk = OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate(), as_dict=True)
    return {**jwk, "kid": new_id("key"), "alg": SIGNING_ALGORITHM, "use": "sig", "active_from": active_from}


def _public(jwk: dict[str, Any]) -> dict[str, Any]:
    return {member: jwk[member] for member in (*_PUBLIC_MEMBERS, "active_from") if member in jwk}


def public_jwks(verification_keys: dict[str, Any]) -> dict[str, Any]:
    """The JWK Set to publish: each key's public members, without the ring's own bookkeeping."""
    return {"keys": [{m: key[m] for m in _PUBLIC_MEMBERS if m in key} for key in verification_keys["keys"]]}


def _by_activation(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(keys, key=lambda key: int(key["active_from"]))


def _still_verifying(keys: list[dict[str, Any]], now: int) -> list[dict[str, Any]]:
    """The keys a token alive now may be signed with: each key until its successor has signed
    for longer than any token lives."""
    ordered = _by_activation(keys)
    kept = []
    for index, key in enumerate(ordered):
        successor = ordered[index + 1] if index + 1 < len(ordered) else None
        retired_at = None if successor is None else int(successor["active_from"])
        if retired_at is None or retired_at + ACCESS_TOKEN_SECONDS_MAX + CLOCK_LEEWAY_SECONDS > now:
            kept.append(key)
    return kept


def _still_signing(keys: list[dict[str, Any]], now: int) -> list[dict[str, Any]]:
    """The private keys the ring still needs: the one signing now and those that will."""
    ordered = _by_activation(keys)
    current = [key for key in ordered if int(key["active_from"]) <= now]
    upcoming = [key for key in ordered if int(key["active_from"]) > now]
    return [*current[-1:], *upcoming]


def rotate(
    signing_keys: dict[str, Any] | None,
    verification_keys: dict[str, Any] | None,
    *,
    now: int,
    activate_after_seconds: int = 0,
    drop_previous: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Add a new key: the new ring, the new verification keys and the new key's `kid`.

    The new key signs from `now + activate_after_seconds` (time for every verifier to read its
    public half first); the one it replaces keeps verifying until its tokens have expired. Keys
    no longer needed for either are dropped. With `drop_previous` (a key that may have leaked),
    every other key is dropped at once: the new one signs now, and every access token signed
    before is refused (clients get new ones with their refresh tokens)."""
    if activate_after_seconds < 0:
        raise ValueError("activate_after_seconds must not be negative")
    if drop_previous:
        signing_keys, verification_keys, activate_after_seconds = None, None, 0
    new_key = generate_key(active_from=now + activate_after_seconds)
    ring = [*(signing_keys or {"keys": []})["keys"], new_key]
    public = [*(verification_keys or {"keys": []})["keys"], _public(new_key)]
    return (
        {"keys": _still_signing(ring, now)},
        {"keys": _still_verifying(public, now)},
        str(new_key["kid"]),
    )


def signing_ring_of(signing_keys: dict[str, Any]) -> list[tuple[int, SigningKey]]:
    """The ring's keys as (active_from, key), oldest first, each loaded once."""
    ring = []
    for jwk in _by_activation(signing_keys["keys"]):
        algorithm = str(jwk.get("alg") or _ALGORITHM_OF_CURVE[jwk["crv"]])
        if algorithm not in VERIFYING_ALGORITHMS or "d" not in jwk:
            raise ConfigurationError(
                f"signing key {jwk.get('kid')!r} is not a private {'/'.join(VERIFYING_ALGORITHMS)} key"
            )
        key = SigningKey(kid=str(jwk["kid"]), key=jwt.PyJWK(jwk, algorithm).key, algorithm=algorithm)
        ring.append((int(jwk["active_from"]), key))
    return ring


def signing_key_at(ring: list[tuple[int, SigningKey]], *, now: int) -> SigningKey:
    """The key of the ring that signs at `now`: the newest whose `active_from` has come."""
    current = [key for active_from, key in ring if active_from <= now]
    if not current:
        raise ConfigurationError("the signing key ring holds no key that is active yet")
    return current[-1]


def verification_keys_of(verification_keys: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """`kid` → (public key, its algorithm), for verifying tokens."""
    keys: dict[str, tuple[Any, str]] = {}
    for jwk in verification_keys["keys"]:
        algorithm = str(jwk.get("alg") or _ALGORITHM_OF_CURVE.get(jwk.get("crv", ""), ""))
        if algorithm not in VERIFYING_ALGORITHMS:
            raise ConfigurationError(f"verification key {jwk.get('kid')!r}: algorithm {algorithm!r} is not accepted")
        keys[str(jwk["kid"])] = (jwt.PyJWK(jwk, algorithm).key, algorithm)
    return keys


def _write_private(path: Path, document: dict[str, Any]) -> None:
    """Write a key file readable by its owner alone, replacing the old one in one step."""
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(document, file, indent=2)
    os.replace(partial, path)


def write_key_files(
    signing_path: Path,
    verification_path: Path,
    *,
    now: int,
    activate_after_seconds: int = 0,
    drop_previous: bool = False,
) -> str:
    """Rotate the key files at these paths (creating them when absent); the new key's `kid`.
    The verification keys are written first, so that no verifier meets a token signed by a key
    it does not know yet."""
    signing = json.loads(signing_path.read_text()) if signing_path.exists() else None
    verification = json.loads(verification_path.read_text()) if verification_path.exists() else None
    new_signing, new_verification, kid = rotate(
        signing, verification, now=now, activate_after_seconds=activate_after_seconds, drop_previous=drop_previous
    )
    _write_private(verification_path, new_verification)
    _write_private(signing_path, new_signing)
    return kid


class KeyFile:
    """A JSON key file read when first needed and again whenever it changes on disk.

    `variable` names the setting the path came from, for the error when it is missing."""

    def __init__(self, path: str | None, variable: str, parse) -> None:
        self._path = path
        self._variable = variable
        self._parse = parse
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._value: Any = None

    def current(self) -> Any:
        """The parsed contents as they are now (one stat per call; a read when they changed)."""
        if self._path is None:
            raise ConfigurationError(f"{self._variable} is not set")
        try:
            status = os.stat(self._path)
        except OSError as error:
            raise ConfigurationError(f"{self._variable}: cannot read {self._path}: {error.strerror}") from None
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    try:
                        document = json.loads(Path(self._path).read_text())
                        self._value = self._parse(document)
                    except (ValueError, KeyError, TypeError, jwt.PyJWKError) as error:
                        raise ConfigurationError(
                            f"{self._variable}: {self._path} is not a valid key file: {error}"
                        ) from None
                    self._stamp = stamp
        return self._value
