"""Which secrets each function gets: only those it uses.

- `users` alone holds the private signing key ring: it is the only function that issues tokens;
- every function that authenticates a caller (the client functions) holds the public
  verification keys, and nothing that could sign;
- the secret key, the root of the keys derived for one purpose each
  (shared.bootstrap._derived_key), goes only where such a key is derived: the card vault's
  fingerprints, computed where cards and bank accounts are tokenized (`accounts`); the sealing
  of second-factor secrets and the digests of e-mail verification codes, in `users`, which
  enrols and signs in, and `payments`, which asks a code of a large payment;
- the personal data index key, the key of the e-mail addresses' blind index
  (shared.privacy.blind_index), goes only where a user is looked up by address: `users`
  (sign-up, sign-in, password resets), `payments` (paying or asking someone named by address)
  and `admin` (the operators' look-up); it is never derived from another secret. `users` and
  `payments` hold both keys;
- every function reads the database and the cache.

The Knative manifests and the Terraform data are rendered from this table
(shared.deploy), the local services mode gives each function process only these
(shared.runner.local), and tests/deploy checks the rendered Services against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.functions import FUNCTIONS, FunctionInfo

__all__ = [
    "DATABASE_URL",
    "FUNCTION_SECRETS",
    "EMAIL_LOOKUP_FUNCTIONS",
    "KEY_DERIVING_FUNCTIONS",
    "PERSONAL_DATA_INDEX_KEY",
    "REDIS_URL",
    "SECRETS",
    "SECRET_KEY",
    "SIGNING_KEYS",
    "TOKEN_ISSUING_FUNCTION",
    "VERIFICATION_KEYS",
    "Secret",
    "environment_for",
    "secrets_of",
]

# The function that signs tokens (the password and refresh-token grants).
TOKEN_ISSUING_FUNCTION = "users"  # noqa: S105 - a function's name, not a secret
# The functions that derive a key from the secret key: `accounts` fingerprints the cards and
# bank accounts it tokenizes (shared.adapters.card_gateway); `users` and `payments` open the
# sealed second-factor secrets (shared.services.mfa), and `users` digests e-mail codes
# (shared.services.verification).
KEY_DERIVING_FUNCTIONS = ("accounts", "payments", "users")
# The functions that find a user by e-mail address, through its blind index.
EMAIL_LOOKUP_FUNCTIONS = ("users", "payments", "admin")


@dataclass(frozen=True)
class Secret:
    """One secret: its name (the key of the Kubernetes Secret and of the Secrets Manager
    secret), the variable a function reads it under, and whether that variable names a file
    (mounted) or holds the value itself."""

    name: str
    variable: str
    is_file: bool = False

    @property
    def file_name(self) -> str:
        return f"{self.name}.json"


DATABASE_URL = Secret("database-url", "PAYSTREAM_DATABASE_URL")
REDIS_URL = Secret("redis-url", "PAYSTREAM_REDIS_URL")
SECRET_KEY = Secret("secret-key", "PAYSTREAM_SECRET_KEY")
SIGNING_KEYS = Secret("signing-keys", "PAYSTREAM_SIGNING_KEYS_FILE", is_file=True)
VERIFICATION_KEYS = Secret("verification-keys", "PAYSTREAM_VERIFICATION_KEYS_FILE", is_file=True)
PERSONAL_DATA_INDEX_KEY = Secret("personal-data-index-key", "PAYSTREAM_PERSONAL_DATA_INDEX_KEY")
SECRETS: tuple[Secret, ...] = (
    DATABASE_URL,
    REDIS_URL,
    SECRET_KEY,
    SIGNING_KEYS,
    VERIFICATION_KEYS,
    PERSONAL_DATA_INDEX_KEY,
)


def secrets_of(function: FunctionInfo) -> tuple[Secret, ...]:
    """The secrets `function` gets, in the order of SECRETS."""
    wanted = {DATABASE_URL, REDIS_URL}
    if function.name == TOKEN_ISSUING_FUNCTION:
        wanted |= {SIGNING_KEYS, VERIFICATION_KEYS}
    if function.serves_clients:
        wanted.add(VERIFICATION_KEYS)
    if function.name in KEY_DERIVING_FUNCTIONS:
        wanted.add(SECRET_KEY)
    if function.name in EMAIL_LOOKUP_FUNCTIONS:
        wanted.add(PERSONAL_DATA_INDEX_KEY)
    return tuple(secret for secret in SECRETS if secret in wanted)


FUNCTION_SECRETS: Mapping[str, tuple[Secret, ...]] = {function.name: secrets_of(function) for function in FUNCTIONS}


def environment_for(function: str, environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` without the secrets `function` does not get (the local services mode
    starts each function process with this)."""
    withheld = {secret.variable for secret in SECRETS} - {secret.variable for secret in FUNCTION_SECRETS[function]}
    return {name: value for name, value in environment.items() if name not in withheld}
