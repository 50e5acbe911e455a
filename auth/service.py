"""Account management: organisations, users and self sign-up.

Each function takes the acting identity first, asks the policy decision point, validates with the
shared schemas (every bad field reported at once) and writes in one unit of work.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from auth.models import Organisation, OrgKind, OrgStatus, Role, User, UserRole
from auth.oauth_models import AccessToken, AuthorizationCode, RefreshToken
from exchange.policy import Identity, require
from auth.schemas import OrganisationInSchema, SignupSchema, UserInSchema
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import Conflict, NotFound, ValidationProblem, load_or_problem
from exchange.sharing import audit


def _org_name_taken(name: str) -> bool:
    return db.session.scalar(select(Organisation.id).where(func.lower(Organisation.name) == name.lower())) is not None


def _email_taken(email: str) -> bool:
    return db.session.scalar(select(User.id).where(User.email == email)) is not None


def find_org(name: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(func.lower(Organisation.name) == name.strip().lower()))


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def _new_user(org: Organisation | None, email: str, password: str, roles: set[Role]) -> User:
    user = User(organisation=org, email=email,
                password_hash=generate_password_hash(password, method=current_app.config["PASSWORD_HASH"]))
    user.role_rows = [UserRole(role=role) for role in sorted(roles, key=lambda r: r.value)]
    return user


def _lost_race() -> Conflict:
    # A concurrent request took the same unique name or email between our check and our commit.
    return Conflict("An organisation or user with that name or email already exists.")


def create_org(identity: Identity, data: dict, *, status: OrgStatus = OrgStatus.active) -> Organisation:
    """Create an organisation (console and admins); active unless told otherwise."""
    require(identity, "account:create-org")
    body = load_or_problem(OrganisationInSchema(), data)
    name = body["name"].strip()
    if _org_name_taken(name):
        raise Conflict(f"An organisation named {name!r} already exists.",
                       errors=[{"field": "name", "message": "already taken"}])
    try:
        with unit_of_work() as uow:
            org = Organisation(name=name, kind=OrgKind(body["kind"]), status=status)
            uow.add(org)
    except IntegrityError as exc:
        raise _lost_race() from exc
    return org


def create_user(identity: Identity, data: dict) -> User:
    """Create a user in an existing organisation with one or more roles."""
    require(identity, "account:create-user")
    body = load_or_problem(UserInSchema(), data)
    email = body["email"].strip().lower()
    errors = []
    org = find_org(body["org"])
    if org is None:
        errors.append({"field": "org", "message": f"no organisation named {body['org']!r}"})
    if _email_taken(email):
        errors.append({"field": "email", "message": "already registered"})
    if errors:
        problem = Conflict if all(e["field"] == "email" for e in errors) else ValidationProblem
        raise problem("The user cannot be created; see errors.", errors=errors)
    try:
        with unit_of_work() as uow:
            user = _new_user(org, email, body["password"], {Role(r) for r in body["roles"]})
            uow.add(user)
    except IntegrityError as exc:
        raise _lost_race() from exc
    return user


def signup(identity: Identity, data: dict) -> dict:
    """Self sign-up: a *pending* organisation and its first user, waiting for an admin's approval.

    The answer must not tell whether an email is registered: an email already in use gets the same
    answer, after the same hashing work, and nothing is written (its owner can sign in as before).
    Organisation names are public (they are the providers of the catalogue), so a taken name is a
    409 naming ``organisation.name``.
    """
    require(identity, "account:signup")
    body = load_or_problem(SignupSchema(), data)
    name = body["organisation"]["name"].strip()
    email = body["user"]["email"].strip().lower()
    if _org_name_taken(name):
        raise Conflict("The account cannot be created; see errors.",
                       errors=[{"field": "organisation.name", "message": "already taken"}])
    kind = OrgKind(body["organisation"]["kind"])
    role = Role.provider if kind is OrgKind.provider else Role.buyer
    user = _new_user(None, email, body["user"]["password"], {role})  # hashes the password either way
    if not _email_taken(email):
        try:
            with unit_of_work() as uow:
                user.organisation = Organisation(name=name, kind=kind, status=OrgStatus.pending)
                uow.add(user)
        except IntegrityError:
            # A concurrent sign-up took the name or the email: a name is public, an email is not.
            if _org_name_taken(name):
                raise _lost_race() from None
    return {"organisation": {"name": name, "kind": kind.value, "status": OrgStatus.pending.value},
            "user": {"email": email, "roles": [role.value]},
            "detail": "Your request is recorded. An administrator reviews new organisations; once yours is "
                      "approved you can sign in with this email and password."}


def _org(org_id) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"No organisation {org_id}.")
    return org


def _activate(identity: Identity, org_id, *, action: str, only_from: OrgStatus, verb: str) -> Organisation:
    """Make an organisation active, but only from ``only_from``: approving and reactivating are separate
    acts, so that approving can never revive a suspension by mistake."""
    require(identity, action)
    org = _org(org_id)
    if org.status is not only_from:
        raise Conflict(f"The organisation is {org.status.value}; only a {only_from.value} organisation can be {verb}.")
    with unit_of_work():
        org.status = OrgStatus.active
        _audit(identity, f"org.{verb}", org)
    return org


def _audit(actor: Identity, event: str, org: Organisation, **details) -> None:
    audit.record(event, actor_user_id=actor.user_id, actor_org_id=actor.org_id, object_type="organisation",
                 object_id=org.id, details={"name": org.name, **details})


def approve_org(identity: Identity, org_id) -> Organisation:
    """Activate a *pending* organisation (a suspended one is reactivated with ``reactivate_org``)."""
    return _activate(identity, org_id, action="account:approve-org", only_from=OrgStatus.pending, verb="approved")


def verify_org(identity: Identity, org_id, verified: bool) -> Organisation:
    """Set (or clear) an organisation's ``verified`` flag, which sharing policies may name."""
    require(identity, "account:verify-org")
    org = _org(org_id)
    with unit_of_work():
        org.verified = verified
        _audit(identity, "org.verified", org, verified=verified)
    return org


def suspend_org(identity: Identity, org_id) -> Organisation:
    """Suspend an organisation and kill, for good, every token, code and session of its users: a later
    reactivation starts them afresh instead of reviving what was issued before."""
    require(identity, "account:suspend-org")
    org = _org(org_id)
    if org.id == identity.org_id:
        raise Conflict("You cannot suspend your own organisation: it would sign out and lock out every "
                       "administrator in it, you included.")
    now = utcnow()
    members = select(User.id).where(User.org_id == org.id).scalar_subquery()
    with unit_of_work():
        org.status = OrgStatus.suspended
        for model in (AccessToken, RefreshToken):
            db.session.execute(update(model).where(model.user_id.in_(members), model.revoked_at.is_(None))
                               .values(revoked_at=now))
        db.session.execute(update(AuthorizationCode).where(AuthorizationCode.user_id.in_(members),
                                                           AuthorizationCode.used_at.is_(None)).values(used_at=now))
        db.session.execute(update(User).where(User.org_id == org.id)
                           .values(session_version=User.session_version + 1))
        _audit(identity, "org.suspended", org)
    return org


def reactivate_org(identity: Identity, org_id) -> Organisation:
    """Make a suspended organisation active again; its users sign in and get new tokens afresh."""
    return _activate(identity, org_id, action="account:reactivate-org", only_from=OrgStatus.suspended,
                     verb="reactivated")


def end_sessions(user: User) -> None:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    with unit_of_work():
        user.session_version = User.session_version + 1
