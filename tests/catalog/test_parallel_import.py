"""An NDJSON import written by several processes (PostgreSQL) loads exactly what one process loads:
every item in its collection, the last of a repeated id winning, bad items reported; a worker that
fails stops the import with a message, not a traceback."""
from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import select

from exchange.catalog import batches, importer
from exchange.catalog.models import Item
from exchange.core.db import db
from tests.catalog.test_bulk import item
from tests.catalog.test_import import collection

#: NDJSON on PostgreSQL is imported by forked writers, which read and write committed rows.
pytestmark = pytest.mark.committed


@pytest.fixture
def postgres_only(backend):
    if backend != "postgresql":
        pytest.skip("SQLite imports in one process: it has one writer at a time")


def stored(app) -> dict[tuple[str, str], float]:
    with app.app_context():
        return {(row.collection_id, row.item_id): row.cloud_cover for row in db.session.scalars(select(Item))}


def load(runner, tmp_path, *args: str):
    result = runner.invoke(args=["sdx", "import-stac", str(tmp_path / "items.ndjson"), *args])
    return result


@pytest.fixture
def catalogue(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 4)  # many batches per worker and collection
    assert runner.invoke(args=["sdx", "create-org", "--name", "Importer", "--kind", "provider"]).exit_code == 0
    (tmp_path / "c.json").write_text(json.dumps([collection("a"), collection("b")]))
    assert runner.invoke(args=["sdx", "import-stac", str(tmp_path / "c.json"), "--provider", "Importer"]).exit_code == 0
    docs = [dict(item(f"i{n}", n % 90, n % 100), collection="ab"[n % 3 == 0]) for n in range(60)]
    docs += [dict(item("i7", 7, 55.5), collection="b")]  # i7 again, in b: another item
    docs += [dict(item("i8", 8, 66.5), collection="a")]  # i8 again, in a: this one wins
    docs[20] = dict(docs[20], geometry=None)
    nested = "[" * 100_000 + "]" * 100_000  # deeper than any parser goes: a bad line, not a crash
    (tmp_path / "items.ndjson").write_text("".join(json.dumps(d) + "\n" for d in docs) + "{not json\n" + nested + "\n")
    return docs


def test_several_writers_load_what_one_writer_loads(app, runner, tmp_path, catalogue):
    """On SQLite, --workers 3 imports in this one process: the same outcome."""
    parallel = load(runner, tmp_path, "--workers", "3")
    assert parallel.exit_code == 0, parallel.output
    assert "failed i20: /geometry" in parallel.stderr and "failed #63: line 63" in parallel.stderr
    assert "failed #64: line 64: depth limit exceeded" in parallel.stderr
    assert "61 items written: 21 to 'b', 40 to 'a', 3 failed" in parallel.stdout  # i8 written twice
    by_three = stored(app)
    assert len(by_three) == 60 and by_three["a", "i8"] == 66.5 and by_three["b", "i7"] == 55.5
    assert by_three["a", "i7"] == 7 and ("a", "i20") not in by_three
    with app.app_context():
        db.session.execute(db.delete(Item))
        db.session.commit()
    single = load(runner, tmp_path, "--workers", "1")
    assert single.exit_code == 0, single.output
    assert stored(app) == by_three
    assert sorted(single.stderr.splitlines()) == sorted(parallel.stderr.splitlines())


def test_too_many_writers_are_refused_before_anything_is_read(app, runner, tmp_path, catalogue):
    result = load(runner, tmp_path, "--workers", "1000")
    assert result.exit_code == 2 and "1000 is not in the range 1<=x<=64" in result.output
    assert stored(app) == {}


def test_a_file_nested_too_deeply_is_refused(app, runner, tmp_path, catalogue):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    result = runner.invoke(args=["sdx", "import-stac", str(path)])
    assert result.exit_code != 0 and "nested too deeply" in result.output and "Traceback" not in result.output
    assert stored(app) == {}


def test_a_failing_writer_stops_the_import_with_a_message(app, runner, tmp_path, catalogue, postgres_only,
                                                          monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(batches, "bulk_upsert", broken)
    result = load(runner, tmp_path, "--workers", "2")
    assert result.exit_code != 0
    assert "a writer process failed" in result.output and "the database went away" in result.output
    assert "Traceback" not in result.output
    assert stored(app) == {}


def test_a_writer_killed_without_a_word_fails_the_import(app, runner, tmp_path, catalogue, postgres_only,
                                                         monkeypatch):
    """As the kernel's out-of-memory killer would: the batches it took are neither written nor reported."""
    def killed(*args, **kwargs):
        os._exit(9)

    monkeypatch.setattr(batches, "bulk_upsert", killed)
    result = load(runner, tmp_path, "--workers", "2")
    assert result.exit_code != 0
    assert "ended with exit code 9" in result.output or "stopped before its work was done" in result.output
    assert "items written" not in result.output
