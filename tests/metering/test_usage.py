"""The usage report: who sees what, JSON and CSV, grouping, paging, validation, and the same figures
before and after the roll-up."""
from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import select

from auth.models import Organisation
from exchange.core import paging
from exchange.core.db import db, unit_of_work
from exchange.metering import usage
from exchange.metering.models import MeterEvent

NOW = dt.datetime.now(dt.timezone.utc)
TODAY = NOW.date()


def meter(shop, who: str, product: str, *, days_ago: int = 0, nbytes: int = 100, counted: bool = True,
          rule: str | None = None, times: int = 1) -> None:
    """Meter events as the quota service writes them: ``who``'s organisation on ``product``."""
    provider = "alice" if product.startswith("alice") else "bob"
    with shop.live.app.app_context(), unit_of_work():
        for n in range(times):
            db.session.add(MeterEvent(
                at=NOW - dt.timedelta(days=days_ago, seconds=n + 1), org_id=shop.orgs[who],
                provider_org_id=shop.orgs[provider], user_id=shop.users[who], item_key=shop.products[product],
                collection_id=provider, item_id=product, asset_key="data", bytes_sent=0 if rule else nbytes,
                status=403 if rule else 200, counted=counted and not rule, rule=rule))


def report(shop, who: str, **params):
    answer = shop.api("GET", "/api/v1/usage", who, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def sums(items: list[dict], *keys: str) -> dict:
    return {tuple(item[key] for key in keys): (item["downloads"], item["bytes"], item["refusals"]) for item in items}


def scenario(shop) -> None:
    meter(shop, "buyer", "alice-1", times=3, nbytes=1000)
    meter(shop, "buyer", "alice-1", rule="no-license")
    meter(shop, "buyer", "bob-1", days_ago=3, nbytes=7)
    meter(shop, "other", "alice-1", nbytes=50, counted=False)
    meter(shop, "other", "bob-2", days_ago=1, nbytes=20)
    meter(shop, "alice", "bob-1", nbytes=5)  # a provider that also buys


def test_buyers_see_their_own_organisation_only(shop):
    scenario(shop)
    p = shop.products
    mine = report(shop, "buyer", group_by="product")
    assert sums(mine["items"], "product_id") == {(p["alice-1"],): (3, 3000, 1), (p["bob-1"],): (1, 7, 0)}
    assert mine["totals"] == {"downloads": 4, "bytes": 3007, "refusals": 1}
    theirs = report(shop, "other", group_by="org")
    assert sums(theirs["items"], "org_id", "org_name") == {(str(shop.orgs["other"]), "Org other"): (1, 70, 0)}
    # Naming another organisation shows nothing of it.
    assert report(shop, "other", group_by="org", org_id=str(shop.orgs["buyer"]))["items"] == []
    by_day = report(shop, "buyer", group_by="day")
    assert sums(by_day["items"], "day") == {(TODAY.isoformat(),): (3, 3000, 1),
                                            ((TODAY - dt.timedelta(days=3)).isoformat(),): (1, 7, 0)}


def test_providers_see_the_use_of_their_products_by_buyer_organisation(shop):
    scenario(shop)
    alice = report(shop, "alice", group_by="org")
    assert sums(alice["items"], "org_id") == {(str(shop.orgs["buyer"]),): (3, 3000, 1),
                                              (str(shop.orgs["other"]),): (0, 50, 0)}
    bob = report(shop, "bob", group_by="org,product")
    assert sums(bob["items"], "org_id", "item_id") == {
        (str(shop.orgs["buyer"]), "bob-1"): (1, 7, 0), (str(shop.orgs["other"]), "bob-2"): (1, 20, 0),
        (str(shop.orgs["alice"]), "bob-1"): (1, 5, 0)}
    # What alice's organisation bought is its own use, asked for as licensee; never mixed in.
    bought = report(shop, "alice", group_by="product", side="licensee")
    assert sums(bought["items"], "item_id") == {("bob-1",): (1, 5, 0)}
    refused = shop.api("GET", "/api/v1/usage", "buyer", params={"side": "provider"})
    assert refused.status_code == 403 and refused.json()["rule"] == "role-provider"


def test_admins_see_everything_and_may_filter(shop):
    scenario(shop)
    everyone = report(shop, "admin", group_by="org")
    assert sums(everyone["items"], "org_id") == {
        (str(shop.orgs["buyer"]),): (4, 3007, 1), (str(shop.orgs["other"]),): (1, 70, 0),
        (str(shop.orgs["alice"]),): (1, 5, 0)}
    one = report(shop, "admin", group_by="product", org_id=str(shop.orgs["other"]))
    assert sums(one["items"], "item_id") == {("alice-1",): (0, 50, 0), ("bob-2",): (1, 20, 0)}
    of_bob = report(shop, "admin", group_by="org", provider_org_id=str(shop.orgs["bob"]))
    assert everyone["totals"]["bytes"] == 3007 + 70 + 5 and of_bob["totals"]["bytes"] == 7 + 20 + 5


def test_a_token_without_usage_read_is_refused(shop):
    client_id, _ = shop.clients["buyer"]
    token = shop.live.minted_token(client_id, "catalog:read data:download")
    assert shop.live.api("GET", "/api/v1/usage", token).status_code == 403
    assert shop.api("GET", "/api/v1/usage").status_code == 401


def test_csv_by_accept_or_format(shop):
    scenario(shop)
    for kwargs in ({"headers": {"Accept": "text/csv"}}, {"params": {"format": "csv"}}):
        params = {"group_by": "day,product", **kwargs.get("params", {})}
        answer = shop.api("GET", "/api/v1/usage", "buyer", params=params, headers=kwargs.get("headers", {}))
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in answer.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert list(rows[0]) == ["day", "product_id", "collection_id", "item_id", "provider_org_id", "downloads",
                                 "bytes", "refusals"]
        assert {(r["day"], r["item_id"], r["downloads"], r["bytes"], r["refusals"]) for r in rows} == {
            (TODAY.isoformat(), "alice-1", "3", "3000", "1"),
            ((TODAY - dt.timedelta(days=3)).isoformat(), "bob-1", "1", "7", "0")}


def test_csv_cells_never_start_a_formula(shop):
    with shop.live.app.app_context(), unit_of_work():
        db.session.scalar(select(Organisation).where(Organisation.id == shop.orgs["other"])).name = "=HYPERLINK(1)"
    meter(shop, "other", "alice-1")
    answer = shop.api("GET", "/api/v1/usage", "other", params={"group_by": "org", "format": "csv"})
    assert "'=HYPERLINK(1)" in answer.text


def test_paging(shop):
    for days_ago in range(5):
        meter(shop, "buyer", "alice-1", days_ago=days_ago)
    seen, after = [], None
    while True:
        page = report(shop, "buyer", group_by="day", limit=2, **({"after": after} if after else {}))
        seen += [item["day"] for item in page["items"]]
        assert page["totals"]["downloads"] == 5
        after = page["next"]
        if after is None:
            break
    assert seen == sorted((TODAY - dt.timedelta(days=n)).isoformat() for n in range(5))
    for after in ("nonsense", paging.encode(["x"]), paging.encode([1, 2]), paging.encode({"a": 1})):
        bad = shop.api("GET", "/api/v1/usage", "buyer", params={"after": after, "group_by": "product"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "after", bad.text


def test_bad_parameters_name_every_field(shop):
    cases = [
        ({"from": "2026-13-01"}, {"from"}),
        ({"from": "2026-02-30", "to": "yesterday"}, {"from", "to"}),
        ({"from": "2026-11-20", "to": "2026-11-01"}, {"from"}),
        ({"from": "2020-01-01", "to": "2026-01-01"}, {"from"}),
        ({"group_by": "week"}, {"group_by"}),
        ({"group_by": "day,day"}, {"group_by"}),
        ({"side": "both", "format": "xml", "limit": "0", "org_id": "x"}, {"side", "format", "limit", "org_id"}),
    ]
    for params, fields in cases:
        answer = shop.api("GET", "/api/v1/usage", "buyer", params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert {e["field"] for e in answer.json()["errors"]} == fields, params


def test_the_report_is_the_same_before_and_after_the_roll_up(shop):
    """Before the roll-up the report reads the events; after, the daily rows for the closed days;
    events metered after the roll-up are in it at once."""
    scenario(shop)
    params = {"group_by": "day,org,product", "from": (TODAY - dt.timedelta(days=10)).isoformat()}
    live = report(shop, "admin", **params)
    with shop.live.app.app_context():
        assert usage.roll_up() > 0
    assert report(shop, "admin", **params) == live
    meter(shop, "buyer", "bob-1", nbytes=11)
    after = report(shop, "admin", **params)
    assert after["totals"]["bytes"] == live["totals"]["bytes"] + 11
    with shop.live.app.app_context():
        usage.roll_up()
    assert report(shop, "admin", **params) == after
