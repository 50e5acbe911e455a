"""The administrators' sharing pages through a Flask test client, on both backends: the policy list,
the editor (create, new version, every bad field named next to its input, nothing written), the
dry-run preview (writes nothing), deactivation, access requests (approve, reject), who may open them,
and provider text escaped."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from auth import service as accounts
from exchange.catalog.batches import bulk_write
from exchange.catalog.models import Item, ItemStatus
from exchange.catalog.transactions import create_collection
from exchange.core.db import db, unit_of_work, utcnow
from exchange.policy import SYSTEM
from exchange.sharing.models import AccessRequest, AccessRequestState, SharingPolicy, SharingPolicyVersion
from tests.licensing.conftest import item_doc
from tests.web.test_pages import signed_in

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def admin(app):
    """An administrator's browser, beside a provider with two published products and a buyer."""
    client = signed_in(app, app.test_client(), "admin@pol.example", ("admin",), "platform")
    with app.app_context():
        provider = accounts.create_org(SYSTEM, {"name": "Alice Sat", "kind": "provider"})
        accounts.create_org(SYSTEM, {"name": "Buyer Co", "kind": "buyer"})
        create_collection(SYSTEM, {"id": "alice", "description": "Alice's scenes"}, owner_org_id=provider.id)
        bulk_write(SYSTEM, "alice", [item_doc("alice-1", "alice", 10.0), item_doc("alice-2", "alice", 12.0)],
                   method="insert", status=ItemStatus.published)
    return client


def csrf(client, path: str = "/admin/policies/new") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def org_id(app, name: str) -> str:
    with app.app_context():
        return str(accounts.find_org(name).id)


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(SharingPolicy)),
                db.session.scalar(select(func.count()).select_from(SharingPolicyVersion)))


def deny_buyer(app, **changes) -> dict:
    """The editor's fields for "Buyer Co may not discover alice's products"."""
    form = {"name": "Hide alice from Buyer Co", "effect": "deny", "actions": ["discover"], "collections": ["alice"],
            "assignee_orgs": [org_id(app, "Buyer Co")], "do": "save"}
    form.update(changes)
    return form


def post(client, path: str, form: dict):
    return client.post(path, data={**form, "csrf_token": csrf(client)})


def errors_of(page: str) -> dict[str, str]:
    """Each input's error message, by input name (the id ``e-NAME`` next to it)."""
    return dict(re.findall(r'id="e-([a-z_]+)" class="field-error" role="alert">([^<]*)<', page))


def test_create_then_list_then_read_the_policy(app, admin):
    editor = admin.get("/admin/policies/new")
    assert editor.status_code == 200
    page = editor.get_data(as_text=True)
    for label in ("Name", "Collections", "West", "Filter (CQL2 JSON)", "Named organisations", "Minimum age (days)",
                  "Advanced: the whole document as JSON", "Preview", "Create policy"):
        assert label in page, label
    assert 'value="alice"' in page and "Buyer Co" in page

    made = post(admin, "/admin/policies/new", deny_buyer(app, region_w="9", region_s="-1", region_e="13",
                                                         region_n="2", window_from="2026-01-01",
                                                         window_until="2027-01-01T00:00:00Z"))
    assert made.status_code == 302, made.get_data(as_text=True)
    with app.app_context():
        policy = db.session.scalar(select(SharingPolicy))
        document = db.session.scalar(select(SharingPolicyVersion.document))
    assert made.headers["Location"] == f"/admin/policies/{policy.id}"
    assert document["target"]["collections"] == ["alice"] and document["target"]["region"]["type"] == "Polygon"
    assert document["assignee"]["org_ids"] == [org_id(app, "Buyer Co")]
    assert document["constraints"]["from"].startswith("2026-01-01T00:00:00")

    shown = admin.get(made.headers["Location"]).get_data(as_text=True)
    assert "Policy created (version 1)." in shown and "Hide alice from Buyer Co" in shown
    assert "Buyer Co" in shown and "Version 1 (current)" in shown

    listed = admin.get("/admin/policies").get_data(as_text=True)
    assert listed.count("data-policy-id=") == 1
    assert "Deny" in listed and "Discover" in listed and "Collections: alice" in listed and "in a region" in listed
    assert admin.get("/admin/policies?active=false").get_data(as_text=True).count("data-policy-id=") == 0


def test_saving_the_editor_again_writes_a_new_version_and_keeps_the_old(app, admin):
    post(admin, "/admin/policies/new", deny_buyer(app))
    with app.app_context():
        policy_id = db.session.scalar(select(SharingPolicy.id))
    edit = admin.get(f"/admin/policies/{policy_id}/edit").get_data(as_text=True)
    assert 'value="Hide alice from Buyer Co"' in edit and "Save new version" in edit and "version 2" in edit
    saved = post(admin, f"/admin/policies/{policy_id}/edit", deny_buyer(app, name="Hide alice, renamed",
                                                                       actions=["discover", "download"]))
    assert saved.status_code == 302
    page = admin.get(f"/admin/policies/{policy_id}").get_data(as_text=True)
    assert "Policy saved as version 2." in page and "Version 2 (current)" in page
    assert f"/admin/policies/{policy_id}/versions/1" in page
    old = admin.get(f"/admin/policies/{policy_id}/versions/1").get_data(as_text=True)
    assert "Hide alice from Buyer Co" in old and "Version 1" in old and "(current)" not in old
    assert counts(app) == (1, 2)


def test_deactivating_asks_first_then_stops_the_policy(app, admin):
    post(admin, "/admin/policies/new", deny_buyer(app))
    with app.app_context():
        policy_id = db.session.scalar(select(SharingPolicy.id))
    confirm = admin.get(f"/admin/policies/{policy_id}/deactivate")
    assert confirm.status_code == 200 and "Deactivate “Hide alice from Buyer Co”?" in confirm.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(SharingPolicy, policy_id).active
    done = admin.post(f"/admin/policies/{policy_id}/deactivate", data={"csrf_token": csrf(admin)})
    assert done.status_code == 302
    page = admin.get(f"/admin/policies/{policy_id}").get_data(as_text=True)
    assert "Policy deactivated" in page and "Inactive" in page
    assert admin.get("/admin/policies?active=false").get_data(as_text=True).count("data-policy-id=") == 1
    assert admin.post(f"/admin/policies/{policy_id}/deactivate").status_code == 400  # no CSRF token


def test_preview_shows_who_loses_what_and_writes_nothing(app, admin):
    before = counts(app)
    answer = post(admin, "/admin/policies/new", deny_buyer(app, do="preview"))
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Preview: what this draft would change" in page and "Nothing has been saved" in page
    assert "Decisions that would change: 8." in page  # two products × four uses, for Buyer Co only
    rows = re.findall(r'<tr data-org-id="([^"]+)" data-product-id="(\d+)" data-use="([a-z_]+)">', page)
    assert {row[0] for row in rows} == {org_id(app, "Buyer Co")} and len(rows) == 8
    assert page.count(">loses<") == 8
    assert 'value="Hide alice from Buyer Co"' in page  # the draft stays in the form
    assert counts(app) == before


def test_preview_of_a_new_version_compares_with_the_policy_it_replaces(app, admin):
    post(admin, "/admin/policies/new", deny_buyer(app))
    with app.app_context():
        policy_id = db.session.scalar(select(SharingPolicy.id))
    same = post(admin, f"/admin/policies/{policy_id}/edit", deny_buyer(app, do="preview"))
    assert "No decision on the sample would change." in same.get_data(as_text=True)
    assert counts(app) == (1, 1)


@pytest.mark.parametrize("changes, named", [
    ({"name": "", "actions": [], "effect": "maybe"}, {"name", "actions", "effect"}),
    ({"filter": '{"op": "nonsense", "args": []}'}, {"filter"}),
    ({"filter": "{not json"}, {"filter"}),
    ({"window_from": "2027-01-01", "window_until": "2026-01-01"}, {"window_until"}),
    ({"min_age_days": "ten", "max_age_days": "5", "gsd_lt": "fine"}, {"min_age_days", "gsd_lt"}),
    ({"min_age_days": "30", "max_age_days": "5"}, {"max_age_days"}),
    ({"region_w": "east", "region_s": "0", "region_e": "1", "region_n": "1"}, {"region_w"}),
    ({"region_w": "0", "region_s": "0", "region_e": "1", "region_n": "95"}, {"region"}),
    ({"region_geojson": '{"type": "Point", "coordinates": [0, 0]}'}, {"region"}),
    ({"free_access": "on"}, {"free_access"}),
    ({"assignee_kinds": ["aliens"], "purposes": ["fun"]}, {"assignee_kinds", "purposes"}),
    ({"attribution": "x" * 2001}, {"attribution"}),
    ({"assignee_orgs": ["not-an-id"], "except_orgs": [str(uuid.UUID(int=7))]}, {"assignee_orgs"}),
    ({"filter": "[" * 100_000}, {"filter"}),
    # deep enough to parse, and then to overflow the filter's checks: bounded before parsing, as the API does
    ({"filter": '{"op": "not", "args": [' + '{"a": ' * 970 + '1' + '}' * 970 + ']}'}, {"filter"}),
    ({"region_geojson": '{"type": "Polygon", "coordinates": ' + '[' * 900 + ']' * 900 + '}'}, {"region"}),
])
def test_every_bad_field_is_named_next_to_its_input_and_nothing_is_written(app, admin, changes, named):
    before = counts(app)
    for do in ("save", "preview"):
        answer = post(admin, "/admin/policies/new", deny_buyer(app, do=do, **changes))
        assert answer.status_code == 422, answer.get_data(as_text=True)
        page = answer.get_data(as_text=True)
        assert set(errors_of(page)) == named, errors_of(page)
        assert "correct the fields marked below" in page
        for name in named - {"region", "actions", "effect", "assignee_kinds", "purposes", "free_access"}:
            assert f'aria-describedby="e-{name}"' in page or f'aria-describedby="h-{name} e-{name}"' in page, name
    assert counts(app) == before


def test_the_advanced_document_is_saved_instead_of_the_fields_and_its_errors_are_named(app, admin):
    bad = post(admin, "/admin/policies/new", {"advanced": '{"name": "x", "actions": ["fly"]}', "do": "save"})
    assert bad.status_code == 422
    message = errors_of(bad.get_data(as_text=True))["advanced"]
    assert "actions.0:" in message and "effect:" in message
    good = post(admin, "/admin/policies/new", {
        "advanced": '{"name": "from JSON", "actions": ["download"], "effect": "require_approval",'
                    ' "target": {"collections": ["alice"]}}', "do": "save", "name": "ignored"})
    assert good.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(SharingPolicyVersion.name)) == "from JSON"


def test_a_script_in_a_policy_name_is_shown_as_text(app, admin):
    post(admin, "/admin/policies/new", deny_buyer(app, name=SCRIPT, attribution=SCRIPT, description=SCRIPT))
    with app.app_context():
        policy_id = db.session.scalar(select(SharingPolicy.id))
    for path in ("/admin/policies", f"/admin/policies/{policy_id}", f"/admin/policies/{policy_id}/edit",
                 f"/admin/policies/{policy_id}/deactivate", f"/admin/policies/{policy_id}/versions/1"):
        page = admin.get(path).get_data(as_text=True)
        assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_unknown_policies_are_404_pages(app, admin):
    for path in (f"/admin/policies/{uuid.uuid4()}", f"/admin/policies/{uuid.uuid4()}/edit",
                 f"/admin/policies/{uuid.uuid4()}/versions/1", f"/admin/policies/{uuid.uuid4()}/deactivate"):
        answer = admin.get(path)
        assert answer.status_code == 404 and "<html" in answer.get_data(as_text=True), path


@pytest.mark.parametrize("path", ["/admin/policies", "/admin/policies/new", "/admin/requests"])
def test_buyers_and_providers_get_403_and_visitors_sign_in(app, path):
    buyer = signed_in(app, app.test_client(), "b@pol.example", ("buyer",), "buyer")
    provider = signed_in(app, app.test_client(), "p@pol.example", ("provider",), "provider")
    assert buyer.get(path).status_code == 403 and provider.get(path).status_code == 403
    assert app.test_client().get(path).headers["Location"] == f"/login?next={path}"


def test_a_buyer_cannot_post_the_editor(app, admin):
    buyer = signed_in(app, app.test_client(), "b2@pol.example", ("buyer",), "buyer")
    token = re.search(r'name="csrf_token" value="([^"]+)"', buyer.get("/cart").get_data(as_text=True)).group(1)
    assert buyer.post("/admin/policies/new", data={**deny_buyer(app), "csrf_token": token}).status_code == 403
    assert counts(app) == (0, 0)


# -- access requests ------------------------------------------------------------------------------------
def held_request(app, **columns) -> str:
    """A pending request of Buyer Co for alice-1 (made as the service stores one); its id."""
    ident = uuid.uuid4()
    with app.app_context(), unit_of_work():
        item = db.session.scalar(select(Item).where(Item.item_id == "alice-1"))
        user = accounts.create_user(SYSTEM, {"org": "Buyer Co", "email": f"{uuid.uuid4().hex[:8]}@buyer.example",
                                             "password": "x" * 12, "roles": ["buyer"]})
        row = AccessRequest(id=ident, org_id=user.org_id, provider_org_id=item.provider_org_id,
                            item_key=item.key, purpose="research", message=SCRIPT, requested_by=user.id,
                            state=AccessRequestState.pending, expires_at=utcnow() + timedelta(days=30), **columns)
        db.session.add(row)
    return str(ident)


def test_requests_list_filters_by_status_and_escapes_the_message(app, admin):
    pending = held_request(app)
    listed = admin.get("/admin/requests").get_data(as_text=True)
    assert f'data-request-id="{pending}"' in listed and "Buyer Co" in listed and "Alice Sat" in listed
    assert "Review" in listed
    assert pending not in admin.get("/admin/requests?state=approved").get_data(as_text=True)
    assert pending in admin.get("/admin/requests?state=pending").get_data(as_text=True)
    assert admin.get("/admin/requests?state=nonsense").status_code == 422
    page = admin.get(f"/admin/requests/{pending}").get_data(as_text=True)
    assert SCRIPT not in page and "&lt;script&gt;" in page and "Approve" in page and "Reject" in page


def test_approving_free_with_limits_grants_and_bad_limits_are_named(app, admin):
    pending = held_request(app)
    token = csrf(admin, f"/admin/requests/{pending}")
    bad = admin.post(f"/admin/requests/{pending}/approve", data={
        "csrf_token": token, "price": "free", "duration_days": "0", "downloads_per_asset": "many",
        "license": "nope@1"})
    assert bad.status_code == 422
    assert set(errors_of(bad.get_data(as_text=True))) == {"duration_days", "downloads_per_asset"}
    good = admin.post(f"/admin/requests/{pending}/approve", data={
        "csrf_token": token, "price": "free", "duration_days": "30", "downloads_per_asset": "3"})
    assert good.status_code == 302
    page = admin.get(good.headers["Location"]).get_data(as_text=True)
    assert "Access request approved." in page and "Approved" in page and "Valid until" in page
    again = admin.post(f"/admin/requests/{pending}/reject", data={"csrf_token": token, "reason": "late"})
    assert again.status_code == 409 and "only a pending one can change" in again.get_data(as_text=True)


def test_rejecting_needs_a_reason_and_records_it(app, admin):
    pending = held_request(app)
    token = csrf(admin, f"/admin/requests/{pending}")
    bad = admin.post(f"/admin/requests/{pending}/reject", data={"csrf_token": token, "reason": ""})
    assert bad.status_code == 422 and set(errors_of(bad.get_data(as_text=True))) == {"reason"}
    with app.app_context():
        assert db.session.get(AccessRequest, uuid.UUID(pending)).state is AccessRequestState.pending
    done = admin.post(f"/admin/requests/{pending}/reject", data={"csrf_token": token, "reason": "Not for resale"})
    assert done.status_code == 302
    page = admin.get(f"/admin/requests/{pending}").get_data(as_text=True)
    assert "Rejected" in page and "Not for resale" in page
    assert admin.get(f"/admin/requests/{uuid.uuid4()}").status_code == 404


def test_the_pages_speak_chinese(app, admin):
    for path, label in (("/admin/policies/new", "创建策略"), ("/admin/policies", "共享策略"), ("/admin/requests", "访问申请")):
        page = admin.get(f"{path}?lang=zh-CN").get_data(as_text=True)
        assert label in page and "Create policy" not in page and "Sharing policies" not in page, path


def test_a_priced_approval_names_a_missing_or_unknown_offer(app, admin):
    pending = held_request(app)
    token = csrf(admin, f"/admin/requests/{pending}")
    blank = admin.post(f"/admin/requests/{pending}/approve", data={"csrf_token": token, "price": "offer", "offer_id": ""})
    assert blank.status_code == 422 and set(errors_of(blank.get_data(as_text=True))) == {"price"}
    unknown = admin.post(f"/admin/requests/{pending}/approve",
                         data={"csrf_token": token, "price": "offer", "offer_id": str(uuid.uuid4())})
    assert unknown.status_code == 422 and set(errors_of(unknown.get_data(as_text=True))) == {"offer_id"}
    assert 'value="offer" id="f-price-offer" checked' in unknown.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(AccessRequest, uuid.UUID(pending)).state is AccessRequestState.pending


def test_the_policy_list_pages(app, admin):
    from exchange.sharing import service
    with app.app_context():
        for n in range(21):
            service.create_policy(SYSTEM, {"name": f"policy {n:02}", "actions": ["download"], "effect": "deny"},
                                  own=False)
    first = admin.get("/admin/policies?active=true").get_data(as_text=True)
    assert first.count("data-policy-id=") == 20
    after = re.search(r'href="(/admin/policies\?active=true&amp;after=[^"]+)" rel="next"', first).group(1)
    second = admin.get(after.replace("&amp;", "&")).get_data(as_text=True)
    assert second.count("data-policy-id=") == 1 and 'rel="next"' not in second


def test_the_editor_shows_a_stored_document_as_it_saves_it_back(app):
    """Editing a policy and saving it unchanged writes the same document (the form loses nothing)."""
    from exchange.sharing.schemas import PolicySchema, normalised
    from exchange.web import policy_form
    from werkzeug.datastructures import MultiDict
    with app.app_context():
        document = normalised(PolicySchema().load({
            "name": "all of it", "description": "d", "effect": "permit", "actions": ["license", "download"],
            "target": {"collections": ["alice"], "filter": {"op": "<", "args": [{"property": "gsd"}, 0.5]},
                       "region": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}},
            "assignee": {"org_kinds": ["research"], "org_ids": [str(uuid.uuid4())], "verified": True},
            "except": {"org_kinds": ["buyer"], "org_ids": [str(uuid.uuid4())]},
            "constraints": {"min_age_days": 3, "max_age_days": 30, "from": "2026-01-01T00:00:00Z",
                            "until": "2027-01-01T00:00:00Z", "gsd_lt": 0.5, "gsd_gte": 0.1, "purposes": ["research"]},
            "free_access": True, "duties": {"attribution": "© Alice"}}))
        form = policy_form.from_document(document)
        values = MultiDict([(k, v) for k, v in form.items() if isinstance(v, str)]
                           + [(k, item) for k, v in form.items() if isinstance(v, list) for item in v]
                           + ([("free_access", "on")] if form["free_access"] else []))
        again, errors = policy_form.to_document(policy_form.posted(values))
        assert errors == {}
        assert normalised(PolicySchema().load(again)) == document


def test_the_versions_list_pages_newest_first(app, admin):
    from exchange.sharing import service
    with app.app_context():
        policy_id = service.create_policy(SYSTEM, {"name": "v1", "actions": ["download"], "effect": "deny"},
                                          own=False).id
        for n in range(2, 23):
            service.update_policy(SYSTEM, policy_id, {"name": f"v{n}", "actions": ["download"], "effect": "deny"},
                                  own=False)
    first = admin.get(f"/admin/policies/{policy_id}").get_data(as_text=True)
    assert "Version 22 (current)" in first and ">v22<" in first and ">v3<" in first and ">v2<" not in first
    assert f'href="/admin/policies/{policy_id}?page=2" rel="next"' in first
    second = admin.get(f"/admin/policies/{policy_id}?page=2").get_data(as_text=True)
    assert ">v2<" in second and ">v1<" in second and 'rel="prev"' in second and 'rel="next"' not in second
    old = admin.get(f"/admin/policies/{policy_id}/versions/1?page=2").get_data(as_text=True)
    assert "Version 1" in old and f"/admin/policies/{policy_id}/versions/1?page=1" in old
    assert admin.get(f"/admin/policies/{policy_id}?page=x").status_code == 200
