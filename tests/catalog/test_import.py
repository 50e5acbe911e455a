"""`sdx import-stac` as an operator sees it: items of several collections each go to their own,
or nothing is written; arrays of collections are created; a target collection takes every item."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from exchange.catalog import importer
from exchange.catalog.models import Collection, Item
from exchange.core.db import db
from tests.catalog.test_bulk import item

#: NDJSON on PostgreSQL is imported by forked writers, which read and write committed rows.
pytestmark = pytest.mark.committed


def collection(cid: str) -> dict:
    return {"type": "Collection", "id": cid, "description": f"collection {cid}", "license": "CC0-1.0"}


def placed(app) -> dict[str, str]:
    """item id -> the collection it was written to."""
    with app.app_context():
        return dict(db.session.execute(select(Item.item_id, Item.collection_id)).all())


def write(path, docs: list) -> str:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return str(path)


@pytest.fixture
def orgs(runner, tmp_path):
    """Provider organisations "Importer" (collections a and b) and "Other" (collection theirs)."""
    for name in ("Importer", "Other"):
        assert runner.invoke(args=["sdx", "create-org", "--name", name, "--kind", "provider"]).exit_code == 0
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps([collection("a"), collection("b")]))
    created = runner.invoke(args=["sdx", "import-stac", str(mine), "--provider", "Importer"])
    assert created.exit_code == 0, created.output
    assert "note: collection 'a' created" in created.stdout
    assert "2 collections created, 0 existed already" in created.stdout
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps({"collections": [collection("theirs")]}))  # as GET /collections serves them
    assert runner.invoke(args=["sdx", "import-stac", str(theirs), "--provider", "Other"]).exit_code == 0


def test_mixed_ndjson_puts_each_item_in_the_collection_it_names(app, runner, orgs, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 7)  # many batches per collection, interleaved
    monkeypatch.setattr(importer, "MAX_PENDING", 9)
    docs = [dict(item(f"i{n}", n % 50, 10), collection="b" if n % 6 == 5 else "a") for n in range(120)]
    docs[40] = dict(docs[40], geometry=None)  # a bad item is reported and the import carries on
    docs[41] = {k: v for k, v in docs[41].items() if k != "id"}  # one without an id: named by its line
    result = runner.invoke(args=["sdx", "import-stac", write(tmp_path / "mixed.ndjson", docs),
                                 "--provider", "Importer"])
    assert result.exit_code == 0, result.output
    assert "118 items written: 99 to 'a', 19 to 'b', 2 failed" in result.stdout
    assert "failed i40: /geometry" in result.stderr and "failed #42: /id" in result.stderr
    assert "note:" not in result.stdout
    expected = {d["id"]: d["collection"] for d in docs if "id" in d and d["geometry"] is not None}
    assert placed(app) == expected


def test_an_array_of_items_goes_where_its_items_say(app, runner, orgs, tmp_path):
    path = tmp_path / "items.json"
    path.write_text(json.dumps([dict(item("x", 0, 1), collection="b"), dict(item("y", 1, 1), collection="a")]))
    result = runner.invoke(args=["sdx", "import-stac", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 items written: 1 to 'b', 1 to 'a', 0 failed" in result.stdout
    assert placed(app) == {"x": "b", "y": "a"}


def test_items_with_nowhere_to_go_stop_the_import_before_anything_is_written(app, runner, orgs, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 5)  # the good items alone would fill several batches
    good = [dict(item(f"g{n}", n, 1), collection="a") for n in range(30)]
    nameless = item("nameless", 0, 1)
    docs = good + [dict(item("lost1", 0, 1), collection="ghost"), nameless,
                   dict(item("lost2", 0, 1), collection="ghost"), dict(item("t", 0, 1), collection="theirs"),
                   dict(item("odd", 0, 1), collection=5)]
    path = write(tmp_path / "items.ndjson", docs)
    refused = runner.invoke(args=["sdx", "import-stac", path, "--provider", "Importer"])
    assert refused.exit_code == 2
    assert "Nothing was imported" in refused.stderr and "--collection" in refused.stderr
    assert "2 items name no collection: nameless, odd" in refused.stderr
    assert "collection 'ghost' (named by 2 items) does not exist" in refused.stderr
    assert "collection 'theirs' (named by 1 items) belongs to another organisation than --provider" in refused.stderr
    assert "'a'" not in refused.stderr
    assert placed(app) == {}
    # Without --provider any existing collection will do; the unknown one still stops it all.
    assert runner.invoke(args=["sdx", "import-stac", path]).exit_code == 2
    assert placed(app) == {}
    fine = runner.invoke(args=["sdx", "import-stac", write(tmp_path / "ok.ndjson", good + docs[-2:-1])])
    assert fine.exit_code == 0 and "31 items written: 30 to 'a', 1 to 'theirs', 0 failed" in fine.stdout


def test_a_target_collection_takes_every_item_and_the_mismatch_is_noted(app, runner, orgs, tmp_path):
    docs = [dict(item("x", 0, 1), collection="b"), dict(item("y", 1, 1), collection="ghost"), item("z", 2, 1)]
    path = write(tmp_path / "items.ndjson", docs)
    result = runner.invoke(args=["sdx", "import-stac", path, "--collection", "a", "--provider", "Importer"])
    assert result.exit_code == 0, result.output
    assert "3 items written to 'a', 0 failed" in result.stdout
    assert "note: items said collection 'b'; imported into 'a'" in result.stdout
    assert "note: items said collection 'ghost'; imported into 'a'" in result.stdout
    assert placed(app) == {"x": "a", "y": "a", "z": "a"}
    for target in ("theirs", "nope", ""):
        refused = runner.invoke(args=["sdx", "import-stac", path, "--collection", target, "--provider", "Importer"])
        assert refused.exit_code == 2 and "Nothing was imported" in refused.stderr
        assert f"collection {target!r} " in refused.stderr
    assert placed(app) == {"x": "a", "y": "a", "z": "a"}


def test_an_array_of_collections_is_created_whole_or_not_at_all(app, runner, orgs, tmp_path):
    path = tmp_path / "collections.json"
    path.write_text(json.dumps([collection("a"), collection("c"), collection("d")]))
    unowned = runner.invoke(args=["sdx", "import-stac", str(path)])
    assert unowned.exit_code == 2 and "--provider" in unowned.stderr
    renamed = runner.invoke(args=["sdx", "import-stac", str(path), "--collection", "x", "--provider", "Importer"])
    assert renamed.exit_code == 2 and "holds 3 collections" in renamed.stderr
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps([collection("e"), dict(collection("f"), id=".."), collection("e")]))
    refused = runner.invoke(args=["sdx", "import-stac", str(invalid), "--provider", "Importer"])
    assert refused.exit_code == 2
    assert "  /1/id: must be" in refused.stderr and "  /2/id: repeats the id" in refused.stderr
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps({"collections": [collection("g"), item("h", 0, 1)]}))
    mixing = runner.invoke(args=["sdx", "import-stac", str(mixed), "--provider", "Importer"])
    assert mixing.exit_code == 2 and "/collections/1: is not a STAC collection" in mixing.stderr
    with app.app_context():
        assert set(db.session.scalars(select(Collection.id))) == {"a", "b", "theirs"}
    result = runner.invoke(args=["sdx", "import-stac", str(path), "--provider", "Importer"])
    assert result.exit_code == 0, result.output
    assert "note: collection 'a' exists already; left as it is" in result.stdout
    assert "note: collection 'c' created" in result.stdout
    assert "2 collections created, 1 existed already" in result.stdout
    with app.app_context():
        owners = dict(db.session.execute(select(Collection.id, Collection.owner_org_id)).all())
        assert owners["c"] == owners["d"] == owners["a"] != owners["theirs"]
        assert db.session.scalar(select(func.count()).select_from(Item)) == 0
