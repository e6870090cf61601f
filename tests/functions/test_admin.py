"""The operator side through `admin`'s HTTP binding: roles, the route table walked role by role,
user lookup, and the audit record of every action."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from schemas.routes import admin as admin_routes
from shared.adapters.tables import events, user_roles
from shared.cli import main as cli_main
from shared.domain.roles import OPERATOR_ROLES

PASSWORD = "a long enough password"


def _sign_up(users, email: str) -> str:
    answer = users.post("/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Op", "country": "GB"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["id"]


def _headers(users, email: str) -> dict[str, str]:
    answer = users.post("/v1/oauth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def _grant(email: str, role: str) -> None:
    # The first admin is made against the database, as an operator would.
    assert cli_main(["users", "grant-role", email, role]) == 0


@pytest.fixture
def operators(client_of):
    """One account per operator role, plus a plain user; their headers by role name."""
    users = client_of("users")
    headers = {}
    for role in ("user", *sorted(role.value for role in OPERATOR_ROLES)):
        email = f"{role}@example.com"
        _sign_up(users, email)
        if role != "user":
            _grant(email, role)
        headers[role] = _headers(users, email)
    return headers


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: "support" if match.group(1) == "role" else f"x_{match.group(1)}", path)


def _call(client, route, headers=None):
    path = _concrete(route.path)
    if route.method == "GET":
        query = "?email=nobody@example.com" if route.query_model is not None else ""
        return client.get(path + query, headers=headers or {})
    return client.post(path, json={}, headers=headers or {})


def test_every_admin_route_answers_401_without_a_token_and_403_to_every_role_it_does_not_admit(client_of, operators):
    admin = client_of("admin")
    for route in admin_routes.ROUTES.routes:
        assert route.roles, f"{route.endpoint} admits no role"
        unauthenticated = _call(admin, route)
        assert unauthenticated.status_code == 401, route.endpoint
        for role, headers in operators.items():
            answer = _call(admin, route, headers)
            if role in route.roles:
                assert answer.status_code not in (401, 403), (route.endpoint, role, answer.get_json())
            else:
                assert answer.status_code == 403, (route.endpoint, role)
                assert answer.get_json()["error"]["type"] == "authorization_error"


def test_auditors_read_but_never_decide_or_change(client_of, operators):
    for route in admin_routes.ROUTES.routes:
        if "auditor" in route.roles:
            assert route.method == "GET", f"{route.endpoint} lets an auditor change something"


def test_a_revoked_role_stops_working_at_once_whatever_the_token_says(client_of, runtime, operators):
    admin = client_of("admin")
    support_headers = operators["support"]
    assert admin.get("/v1/admin/users?email=user@example.com", headers=support_headers).status_code == 200
    support_id = admin.get("/v1/admin/users?email=support@example.com", headers=operators["admin"]).get_json()
    support_id = support_id["data"][0]["id"]
    revoked = admin.post(f"/v1/admin/users/{support_id}/roles/support/revoke", headers=operators["admin"])
    assert revoked.status_code == 200 and revoked.get_json()["roles"] == []
    # The same token, which still names the role.
    answer = admin.get("/v1/admin/users?email=user@example.com", headers=support_headers)
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "role_required"


def test_an_admin_grants_a_role_and_the_action_is_audited_with_its_actor(client_of, runtime, operators):
    admin, users = client_of("admin"), client_of("users")
    target = _sign_up(users, "new.operator@example.com")
    granted = admin.post(
        f"/v1/admin/users/{target}/roles",
        json={"role": "auditor", "reason": "quarterly audit"},
        headers=operators["admin"],
    )
    assert granted.status_code == 200 and granted.get_json()["roles"] == ["auditor"]
    me = users.get("/v1/users/me", headers=_headers(users, "new.operator@example.com")).get_json()
    assert me["roles"] == ["auditor"] and me["kyc_level"] == "none"
    admin_id = admin.get("/v1/admin/users?email=admin@example.com", headers=operators["admin"]).get_json()["data"][0]
    with runtime.engine.connect() as conn:
        recorded = (
            conn.execute(
                sa.select(events.c.data).where(events.c.type == "admin.action_taken").order_by(events.c.occurred_at)
            )
            .scalars()
            .all()
        )
    assert recorded[-1]["actor_id"] == admin_id["id"]
    assert recorded[-1]["action"] == "role.grant" and recorded[-1]["target_id"] == target
    assert recorded[-1]["details"] == {"role": "auditor"} and recorded[-1]["reason"] == "quarterly audit"
    # The first admin came from the command line, and says so.
    assert any(data["actor_id"] == "paystream-cli" for data in recorded)


def test_an_unknown_role_is_a_400_and_an_admin_cannot_revoke_their_own_admin_role(client_of, runtime, operators):
    admin = client_of("admin")
    me = admin.get("/v1/admin/users?email=admin@example.com", headers=operators["admin"]).get_json()["data"][0]
    unknown = admin.post(f"/v1/admin/users/{me['id']}/roles", json={"role": "root"}, headers=operators["admin"])
    assert unknown.status_code == 400 and unknown.get_json()["error"]["param"] == "role"
    unknown = admin.post(f"/v1/admin/users/{me['id']}/roles/root/revoke", headers=operators["admin"])
    assert unknown.status_code == 400 and unknown.get_json()["error"]["code"] == "role_unknown"
    own = admin.post(f"/v1/admin/users/{me['id']}/roles/admin/revoke", headers=operators["admin"])
    assert own.status_code == 409 and own.get_json()["error"]["code"] == "cannot_revoke_own_admin"
    with runtime.engine.connect() as conn:
        assert conn.execute(sa.select(user_roles.c.role).where(user_roles.c.user_id == me["id"])).scalars().all() == [
            "admin"
        ]


def test_a_user_is_looked_up_by_email_with_wallets_and_payments(client_of, operators):
    admin = client_of("admin")
    found = admin.get("/v1/admin/users?email=USER@example.com", headers=operators["auditor"])
    assert found.status_code == 200
    [user] = found.get_json()["data"]
    assert user["email"] == "user@example.com" and user["roles"] == [] and user["frozen_at"] is None
    assert user["wallets"] == [{"currency": "GBP", "available": 0, "pending": 0}] and user["payments"] == []
    missing = admin.get("/v1/admin/users?email=nobody@example.com", headers=operators["support"])
    assert missing.status_code == 200 and missing.get_json()["data"] == []
    assert admin.get("/v1/admin/users/usr_nobody", headers=operators["support"]).status_code == 404
    assert admin.get("/v1/admin/users?email=not-an-address", headers=operators["support"]).status_code == 400


def test_the_cli_refuses_an_unknown_user_loudly(runtime):
    with pytest.raises(SystemExit, match="no user has this email"):
        cli_main(["users", "grant-role", "nobody@example.com", "admin"])
