"""users: sign-up, OAuth2 tokens (password and refresh_token grants, revocation), the caller's
profile, password and sessions, the second factor, password resets and e-mail verification,
their data export and erasure, and the public keys that verify access tokens."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flask
import functions_framework

from schemas.api import (
    AcceptedResponse,
    JsonWebKeySet,
    MfaEnrolmentResponse,
    MfaRecoveryCodes,
    MfaStatusResponse,
    OpenIdConfiguration,
    PasswordResetResponse,
    RevokeResponse,
    SessionList,
    SessionResponse,
    TokenResponse,
    UserResponse,
)
from schemas.routes import users as routes
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit
from shared.entrypoint import client_router, correlation_id
from shared.http import JWT_ISSUER, ApiError, Principal, client_address
from shared.observability.security import REFRESH_TOKEN_REUSE, security_event
from shared.services import identity, limits, mfa, password_reset, personal_data, sessions, verification
from shared.services.context import EventContext
from shared.services.verification import VerificationOutcome
from shared.signing import VERIFYING_ALGORITHMS, signing_key_at

logger = logging.getLogger("paystream.users")

router = client_router(routes.ROUTES)

# Password reset e-mails are sent off the request's path, so that the answer takes as long
# whether or not the address has an account (one thread: a few e-mails a second at most).
_reset_mailer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reset-mail")


def _user_response(profile: dict[str, Any], roles: frozenset[str] = frozenset()) -> UserResponse:
    """The user as they see themself: `profile` is personal_data.profile_of's."""
    return UserResponse.model_validate({**profile, "roles": sorted(roles)})


def _send_verification_code(runtime: Any, email: str, code: str) -> None:
    """E-mail a verification code after its transaction committed. A failure to publish is
    logged, not answered: the account exists, and a new code can be asked for."""
    try:
        verification.send_code(
            runtime.notifier, to=email, code=code, ttl_seconds=runtime.settings.email_verification_code_ttl_seconds
        )
    except Exception:  # noqa: BLE001 - the e-mail topic is down: the user can ask again
        logger.exception("the verification code e-mail could not be published")


@router.handles(routes.SIGN_UP)
def sign_up(request: flask.Request, body):
    runtime = platform()
    now = utc_now()
    with runtime.engine.begin() as conn:
        user, event_ids = identity.sign_up(
            conn, body, ledger=runtime.ledger, privacy=runtime.privacy, email_index=runtime.email_index,
            now=now, correlation_id=correlation_id(),
        )  # fmt: skip
        code = verification.issue_code(
            conn,
            user,
            derive=runtime.derived_key,
            now=now,
            ttl_seconds=runtime.settings.email_verification_code_ttl_seconds,
            resend_seconds=None,
        )
        profile = personal_data.profile_of(conn, user, privacy=runtime.privacy)
    publish_after_commit(runtime, event_ids)
    _send_verification_code(runtime, profile["email"], code)
    return 201, _user_response(profile)


def _client(request: flask.Request) -> sessions.Client:
    """The device and address a sign-in or a refresh came from (the address as the gateway in
    front of the function saw it: shared.http.client_address)."""
    return sessions.Client(user_agent=request.headers.get("User-Agent", ""), ip_address=client_address(request))


def _token_response(pair: identity.TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="bearer",  # noqa: S106 - OAuth's token type, not a secret
        expires_in=pair.expires_in,
    )


def _issuing(runtime) -> dict[str, Any]:
    """What issuing a token pair takes: the key that signs now and the lifetimes."""
    now = utc_now()
    return dict(
        signing_key=signing_key_at(runtime.signing_keys.current(), now=int(now.timestamp())),
        now=now,
        access_ttl=runtime.settings.access_token_ttl_seconds,
        refresh_ttl=runtime.settings.refresh_token_ttl_seconds,
    )


@router.handles(routes.TOKEN)
def token(request: flask.Request, body):
    runtime = platform()
    common = _issuing(runtime)
    pair: identity.TokenPair | None
    with runtime.engine.begin() as conn:
        if body.grant_type == "password":
            pair = identity.password_grant(
                conn,
                email=body.username,
                email_index=runtime.email_index,
                password=body.password,
                client=_client(request),
                backoff=runtime.sign_in_backoff,
                otp=body.otp,
                second_factor_key=mfa.SecondFactorKey(runtime.derived_key),
                **common,
            )
        else:
            pair = identity.refresh_grant(conn, refresh_token=body.refresh_token, client=_client(request), **common)
    if pair is None:
        # A spent token came back: its session is ended now, and the caller learns only
        # that the token is not valid.
        security_event(
            REFRESH_TOKEN_REUSE,
            "refresh token reuse; the token family was revoked",
            client_ip=client_address(request),
        )
        raise ApiError.unauthenticated("invalid_refresh_token", "the refresh token is not valid")
    return 200, _token_response(pair)


@router.handles(routes.REVOKE)
def revoke(request: flask.Request, body):
    runtime = platform()
    now = utc_now()
    keys, _ = runtime.verification_keys.current()
    with runtime.engine.begin() as conn:
        user_id = sessions.revoke(conn, body.token, body.token_type_hint, verification_keys=keys, now=now)
    if user_id is not None:
        sessions.forget(runtime.redis, user_id)
    return 200, RevokeResponse()


@router.handles(routes.CHANGE_PASSWORD)
def change_password(request: flask.Request, principal: Principal, body):
    runtime = platform()
    common = _issuing(runtime)
    with runtime.engine.begin() as conn:
        user = identity.change_password(
            conn,
            principal.user_id,
            current_password=body.current_password,
            new_password=body.new_password,
            privacy=runtime.privacy,
            now=common["now"],
        )
        pair = identity.start_session_of(conn, user=user, client=_client(request), **common)
    sessions.forget(runtime.redis, principal.user_id)
    return 200, _token_response(pair)


@router.handles(routes.LIST_SESSIONS)
def list_sessions(request: flask.Request, principal: Principal):
    with platform().reader.connect() as conn:
        rows, has_more = sessions.list_sessions(conn, principal.user_id, now=utc_now())
    return 200, SessionList(
        data=[_session_response(row, principal) for row in rows],
        has_more=has_more,
    )


@router.handles(routes.END_SESSION)
def end_session(request: flask.Request, principal: Principal, session_id: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        row = sessions.session_of(conn, principal.user_id, session_id)
        if row is None:
            raise ApiError.not_found("session_not_found", "the session does not exist", "session_id")
        sessions.end_session(conn, session_id, now=utc_now())
        row = sessions.session_of(conn, principal.user_id, session_id)
    sessions.forget(runtime.redis, principal.user_id)
    return 200, _session_response(row, principal)


def _session_response(row: Any, principal: Principal) -> SessionResponse:
    return SessionResponse.model_validate({**row._mapping, "current": row.id == principal.session_id})


@router.handles(routes.JWKS)
def jwks(request: flask.Request):
    _, published = platform().verification_keys.current()
    return 200, JsonWebKeySet.model_validate(published)


@router.handles(routes.OPENID_CONFIGURATION)
def openid_configuration(request: flask.Request):
    base = request.host_url.rstrip("/")
    return 200, OpenIdConfiguration(
        issuer=JWT_ISSUER,
        jwks_uri=base + routes.JWKS.path,
        token_endpoint=base + routes.TOKEN.path,
        revocation_endpoint=base + routes.REVOKE.path,
        grant_types_supported=["password", "refresh_token"],
        response_types_supported=["token"],
        token_endpoint_auth_methods_supported=["none"],
        revocation_endpoint_auth_methods_supported=["none"],
        id_token_signing_alg_values_supported=list(VERIFYING_ALGORITHMS),
        subject_types_supported=["public"],
    )


@router.handles(routes.CURRENT_USER)
def me(request: flask.Request, principal: Principal):
    runtime = platform()
    with runtime.reader.connect() as conn:
        user = identity.get_user(conn, principal.user_id)
        profile = personal_data.profile_of(conn, user, privacy=runtime.privacy)
        roles = identity.roles_of(conn, user.id)
    return 200, _user_response(profile, roles)


@router.handles(routes.ENROL_MFA)
def enrol_mfa(request: flask.Request, principal: Principal):
    runtime = platform()
    with runtime.engine.begin() as conn:
        enrolment = mfa.enrol(
            conn, principal.user_id, key=mfa.SecondFactorKey(runtime.derived_key), privacy=runtime.privacy
        )
    return 200, MfaEnrolmentResponse(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.handles(routes.CONFIRM_MFA)
def confirm_mfa(request: flask.Request, principal: Principal, body):
    runtime = platform()
    with runtime.engine.begin() as conn:
        codes = mfa.confirm(
            conn, principal.user_id, body.code, key=mfa.SecondFactorKey(runtime.derived_key), now=utc_now()
        )
    return 200, MfaRecoveryCodes(mfa_enabled=True, recovery_codes=codes)


@router.handles(routes.DISABLE_MFA)
def disable_mfa(request: flask.Request, principal: Principal, body):
    runtime = platform()
    with runtime.engine.begin() as conn:
        mfa.disable(conn, principal.user_id, body.code, key=mfa.SecondFactorKey(runtime.derived_key), now=utc_now())
    return 200, MfaStatusResponse(mfa_enabled=False)


@router.handles(routes.VERIFY_EMAIL)
def verify_email(request: flask.Request, principal: Principal, body):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user = identity.get_user(conn, principal.user_id)
        outcome = verification.verify(conn, user, body.code, derive=runtime.derived_key, now=utc_now())
        user = identity.get_user(conn, principal.user_id)
        profile = personal_data.profile_of(conn, user, privacy=runtime.privacy)
        roles = identity.roles_of(conn, user.id)
    # Answered once committed: a wrong try is counted even though the answer is an error.
    if outcome is VerificationOutcome.WRONG_CODE:
        raise ApiError.invalid("invalid_verification_code", "the code is not the one we sent", "code")
    if outcome is VerificationOutcome.NO_CODE:
        raise ApiError.invalid(
            "verification_code_expired",
            "the code has expired or had too many wrong tries: ask for a new one "
            "(POST /v1/users/me/email/verification-code)",
            "code",
        )
    return 200, _user_response(profile, roles)


@router.handles(routes.RESEND_VERIFICATION_CODE)
def resend_verification_code(request: flask.Request, principal: Principal):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user = identity.get_user(conn, principal.user_id)
        code = verification.issue_code(
            conn,
            user,
            derive=runtime.derived_key,
            now=utc_now(),
            ttl_seconds=runtime.settings.email_verification_code_ttl_seconds,
            resend_seconds=runtime.settings.email_verification_resend_seconds,
        )
        email = personal_data.profile_of(conn, user, privacy=runtime.privacy)["email"]
    _send_verification_code(runtime, email, code)
    return 202, AcceptedResponse()


def _send_reset_email(runtime: Any, reset: password_reset.ResetRequested) -> None:
    subject, text = password_reset.reset_email(
        reset.token, web_origin=runtime.settings.web_origin, ttl_seconds=runtime.settings.password_reset_ttl_seconds
    )
    try:
        verification.send_email(runtime.notifier, to=reset.email, subject=subject, text=text, kind="password.reset")
    except Exception:  # noqa: BLE001 - off the request's path: logged, and the user may ask again
        logger.exception("the password reset e-mail could not be published")


@router.handles(routes.REQUEST_PASSWORD_RESET)
def request_password_reset(request: flask.Request, body):
    runtime = platform()
    with runtime.engine.begin() as conn:
        reset = password_reset.request_reset(
            conn,
            str(body.email),
            email_index=runtime.email_index,
            privacy=runtime.privacy,
            now=utc_now(),
            ttl_seconds=runtime.settings.password_reset_ttl_seconds,
        )
    if reset is not None:
        _reset_mailer.submit(_send_reset_email, runtime, reset)
    return 202, AcceptedResponse()


@router.handles(routes.CONFIRM_PASSWORD_RESET)
def confirm_password_reset(request: flask.Request, body):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user = password_reset.confirm_reset(conn, body.token, body.new_password, privacy=runtime.privacy, now=utc_now())
    sessions.forget(runtime.redis, user.id)
    return 200, PasswordResetResponse()


@router.handles(routes.EXPORT_CURRENT_USER)
def export_me(request: flask.Request, principal: Principal):
    runtime = platform()
    with runtime.reader.connect() as conn:
        return 200, personal_data.export_of(
            conn,
            principal.user_id,
            privacy=runtime.privacy,
            ledger=runtime.ledger,
            now=utc_now(),
            session_id=principal.session_id,
        )


@router.handles(routes.ERASE_CURRENT_USER)
def erase_me(request: flask.Request, principal: Principal):
    runtime = platform()
    context = EventContext(producer="users", now=utc_now(), correlation_id=correlation_id())
    with runtime.engine.begin() as conn:
        erasure, event_ids = personal_data.erase(
            conn,
            principal.user_id,
            actor_id=principal.user_id,
            privacy=runtime.privacy,
            ledger=runtime.ledger,
            retention_days=runtime.settings.personal_data_retention_days,
            context=context,
        )
    sessions.forget(runtime.redis, principal.user_id)
    publish_after_commit(runtime, event_ids)
    return 200, erasure


@router.handles(routes.CURRENT_USER_LIMITS)
def my_limits(request: flask.Request, principal: Principal):
    runtime = platform()
    with runtime.reader.connect() as conn:
        return 200, limits.user_limits(conn, principal.user_id, now=utc_now(), rates=runtime.fx_rates.current())


@functions_framework.http
def users(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
