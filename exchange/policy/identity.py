"""Who is acting: the first argument of every service call."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from auth.models import OrgStatus, Role


@dataclass(frozen=True)
class Identity:
    """The acting party of a service call."""

    user_id: uuid.UUID | None
    org_id: uuid.UUID | None
    roles: frozenset[Role] = frozenset()
    org_status: OrgStatus | None = None
    scopes: frozenset[str] | None = None  # None: not limited by a token (console, internal)
    is_system: bool = False
    anonymous: bool = False
    #: A licence-scoped token (RFC 9396 ``sdx_license`` details): the only licences it may download
    #: under. None: not licence-scoped.
    license_ids: frozenset[uuid.UUID] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def acts_as(self, role: Role) -> bool:
        """Holds ``role`` in an active organisation: what every role-based grant asks."""
        return role in self.roles and self.org_status is OrgStatus.active


#: The operator at the server's console (`flask --app app sdx …`): may administer everything.
SYSTEM = Identity(user_id=None, org_id=None, roles=frozenset({Role.admin}), is_system=True)
#: A caller with no credentials.
ANONYMOUS = Identity(user_id=None, org_id=None, anonymous=True)
