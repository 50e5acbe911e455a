"""`flask --app app db upgrade` reaches head on empty SQLite and PostgreSQL; models match the revisions."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.config import Config
from alembic.script import ScriptDirectory

from app import MIGRATIONS_DIR
from exchange.core.db import db, include_object
from tests.conftest import create_postgres_database, drop_postgres_database, project_root


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


def run_upgrade(url: str, var_dir) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDX_")}
    env.update(SDX_DATABASE_URL=url, SDX_VAR_DIR=str(var_dir))
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=project_root(),
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def empty_database(backend, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = create_postgres_database("sdx_migrate")
    yield url
    drop_postgres_database(url)


def test_upgrade_on_empty_database_reaches_head(empty_database, tmp_path, backend):
    result = run_upgrade(empty_database, tmp_path / "var")
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(empty_database)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
            if backend == "postgresql":
                assert conn.scalar(sa.text("SELECT extname FROM pg_extension WHERE extname = 'postgis'")) == "postgis"
        # Running it again is a no-op, not an error.
        assert run_upgrade(empty_database, tmp_path / "var").returncode == 0
    finally:
        engine.dispose()


# PostGIS's geometry is unknown to plain SQLAlchemy reflection; the column is still compared by presence.
@pytest.mark.committed  # Alembic compares on a connection of its own
@pytest.mark.filterwarnings("ignore:Did not recognize type 'geometry'")
def test_models_match_migrations(app):
    """A model change without its Alembic revision fails here."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_the_queryables_summary_is_backfilled_from_the_items_already_stored(empty_database, make_app, tmp_path):
    """Upgrading a database whose items predate the summary fills it in (here: down a revision and back up)."""
    from flask_migrate import downgrade, upgrade

    from auth import service
    from exchange.policy import SYSTEM
    from exchange.catalog.models import CollectionProperty
    from exchange.catalog.batches import bulk_upsert
    from exchange.catalog.transactions import create_collection
    from tests.catalog.test_tenancy import ITEM

    assert run_upgrade(empty_database, tmp_path / "var").returncode == 0
    app = make_app(SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        org = service.create_org(SYSTEM, {"name": "Old Sat", "kind": "provider"})
        create_collection(SYSTEM, {"id": "old", "description": "o"}, owner_org_id=org.id)
        items = [dict(ITEM, id=f"i{n}", properties=dict(ITEM["properties"], **props))
                 for n, props in enumerate([{"x:n": 1, "x:s": "a"}, {"x:n": "one", "x:b": False, "x:null": None}])]
        assert bulk_upsert(SYSTEM, "old", items).written == 2
        downgrade(revision="b7e20f3c9a14")
        upgrade()
        found = set(db.session.execute(sa.select(CollectionProperty.collection_id, CollectionProperty.name,
                                                 CollectionProperty.json_type)))
    assert found == {("old", "x:n", "number"), ("old", "x:n", "string"), ("old", "x:s", "string"),
                     ("old", "x:b", "boolean")}
