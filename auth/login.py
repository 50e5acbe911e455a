"""Password sign-in with per-account slow-down.

After ``LOGIN_LOCK_AFTER`` wrong passwords in a row an account is locked for ``LOGIN_LOCK_SECONDS``,
doubling with every further miss up to 15 minutes; during a lock even the right password is refused,
afterwards it works again and resets the count. An unknown email costs the same hashing time as a
known one, so timing does not reveal which accounts exist.
"""
from __future__ import annotations

import math
from datetime import timedelta

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from auth.models import OrgStatus, User
from auth.service import find_user
from exchange.core.db import unit_of_work, utcnow
from exchange.core.problems import Problem

MAX_LOCK = timedelta(minutes=15)
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class LoginFailed(Problem):
    status = 401
    title = "Sign-in failed"


class LoginThrottled(Problem):
    status = 429
    title = "Too many attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many wrong passwords for this account. Try again in {retry_after} seconds.",
                         headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def _lock_duration(failures: int) -> timedelta:
    base = current_app.config["LOGIN_LOCK_SECONDS"]
    extra = failures - current_app.config["LOGIN_LOCK_AFTER"]
    return min(timedelta(seconds=base * 2 ** min(extra, 16)), MAX_LOCK)


def authenticate_password(email: str, password: str) -> User:
    """The user with this email and password, or ``LoginFailed`` / ``LoginThrottled``."""
    user = find_user(email or "")
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        raise LoginFailed("Wrong email or password.")
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        raise LoginThrottled(math.ceil((user.locked_until - now).total_seconds()))
    if not check_password_hash(user.password_hash, password or ""):
        with unit_of_work():
            user.failed_logins += 1
            if user.failed_logins >= current_app.config["LOGIN_LOCK_AFTER"]:
                user.locked_until = now + _lock_duration(user.failed_logins)
        raise LoginFailed("Wrong email or password.")
    if user.organisation.status is not OrgStatus.active:
        raise LoginFailed(f"Your organisation is {user.organisation.status.value}; "
                          "an administrator must approve it before you can sign in.")
    if user.failed_logins or user.locked_until:
        with unit_of_work():
            user.failed_logins = 0
            user.locked_until = None
    return user
