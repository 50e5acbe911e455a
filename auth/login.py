"""Password sign-in that reveals nothing about which accounts exist and cannot lock an owner out.

A wrong password and an unknown email get the same answer (401 "Wrong email or password.") after
the same work: an unknown email is checked against a dummy hash. Guessing is slowed down per
*client address*, not per account (``RATELIMIT_LOGIN_FAILURES`` failed attempts, counted by the
limiter in ``auth.views``): an attacker who keeps failing is refused from their own address,
while the account's owner signs in from theirs as usual.

Every attempt is audited (``sign_in``): a success with its user, a failure with the email tried and
the address (never the password), in a transaction of its own since a failure writes nothing else.
"""
from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

from auth.models import OrgStatus, User
from auth.service import find_user
from exchange.core.db import unit_of_work
from exchange.core.problems import Problem
from exchange.sharing import audit

_DUMMY_HASH = generate_password_hash("not-a-real-password")


class LoginFailed(Problem):
    status = 401
    title = "Sign-in failed"

    def __init__(self, detail: str, *, org_status: str | None = None):
        super().__init__(detail)
        #: The organisation's status when that is why (the sign-in page words it in its language).
        self.org_status = org_status


def authenticate_password(email: str, password: str) -> User:
    """The user with this email and password, or ``LoginFailed`` (the same for unknown emails)."""
    user = find_user(email or "")
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        raise LoginFailed("Wrong email or password.")
    if not check_password_hash(user.password_hash, password or ""):
        raise LoginFailed("Wrong email or password.")
    if user.organisation.status is not OrgStatus.active:
        # Only someone who knows the password learns this.
        raise LoginFailed(f"Your organisation is {user.organisation.status.value}; "
                          "an administrator must approve it before you can sign in.",
                          org_status=user.organisation.status.value)
    return user


def sign_in(email: str, password: str, *, address: str | None) -> User:
    """``authenticate_password``, with the attempt written to the audit log either way."""
    try:
        user = authenticate_password(email, password)
    except LoginFailed:
        known = find_user(email or "")
        with unit_of_work():
            audit.record("signin.failed", object_type="user" if known else None, object_id=known.id if known else None,
                         details={"email": (email or "")[:254], "address": address})
        raise
    with unit_of_work():
        audit.record("signin.succeeded", actor_user_id=user.id, actor_org_id=user.org_id, object_type="user",
                     object_id=user.id, details={"address": address})
    return user
