"""Request and response models of the operator side (`/v1/admin/...`): users and roles.

Kept apart from :mod:`schemas.api`, the client contract, which it builds on; the OpenAPI
document and the exported JSON Schemas list both.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from schemas.api import (
    EMAIL_LENGTH_MAX,
    NOTE_LENGTH_MAX,
    OperatorRole,
    PaymentResponse,
    UserResponse,
    UtcDatetime,
    WalletResponse,
    _Request,
    _Response,
)

__all__ = [
    "REQUEST_MODELS",
    "RESPONSE_MODELS",
    "AdminUserList",
    "AdminUserResponse",
    "OperatorRole",
    "ReasonRequest",
    "RoleGrantRequest",
    "UserLookupQuery",
]

# An operator's reason for a decision: shown to other operators and kept in the audit trail.
REASON_LENGTH_MAX = NOTE_LENGTH_MAX
# How many of a user's payments an operator sees on the user's page, newest first.
ADMIN_USER_PAYMENTS_MAX = 20

_Reason = Annotated[str, Field(min_length=1, max_length=REASON_LENGTH_MAX)]


class ReasonRequest(_Request):
    """The body of an operator's decision that needs saying why (freeze, decline)."""

    reason: _Reason


class RoleGrantRequest(_Request):
    """Body of `POST /v1/admin/users/{user_id}/roles`."""

    role: OperatorRole
    reason: _Reason | None = None


class UserLookupQuery(BaseModel):
    """Query of `GET /v1/admin/users`: a user is looked up by e-mail address (any case)."""

    model_config = _Request.model_config

    email: Annotated[str, Field(min_length=3, max_length=EMAIL_LENGTH_MAX)]

    @model_validator(mode="after")
    def _an_address(self) -> UserLookupQuery:
        if "@" not in self.email:
            raise ValueError("email must be an e-mail address")
        return self


class AdminUserResponse(UserResponse):
    """A user as an operator sees them: the profile, roles, freeze, wallets and latest payments."""

    frozen_at: Annotated[UtcDatetime | None, Field(description="When the account was frozen; null if it is not.")]
    frozen_reason: str | None
    wallets: list[WalletResponse]
    payments: list[PaymentResponse] = Field(description=f"The user's latest {ADMIN_USER_PAYMENTS_MAX} payments.")


class AdminUserList(_Response):
    data: list[AdminUserResponse]
    has_more: bool


REQUEST_MODELS: tuple[type[BaseModel], ...] = (ReasonRequest, RoleGrantRequest, UserLookupQuery)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (AdminUserResponse, AdminUserList)
