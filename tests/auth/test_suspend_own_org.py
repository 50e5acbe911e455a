"""An administrator cannot suspend their own organisation (it would lock every administrator of it out)."""
from __future__ import annotations

import pytest

from auth import service
from auth.models import OrgStatus
from auth.policies import identity_of
from exchange.core.problems import Conflict
from tests.conftest import add_user


def test_an_admin_cannot_suspend_their_own_organisation_but_can_suspend_another(app):
    with app.app_context():
        admin = add_user("root@platform.example", roles=("admin",), org="Platform", kind="platform")
        other = add_user("ops@buyer.example", roles=("buyer",), org="Buyer Ltd")
        with pytest.raises(Conflict, match="your own organisation"):
            service.suspend_org(identity_of(admin), admin.org_id)
        assert admin.organisation.status is OrgStatus.active
        assert service.suspend_org(identity_of(admin), other.org_id).status is OrgStatus.suspended
