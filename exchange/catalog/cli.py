"""Console commands of the catalogue: ``flask --app app sdx import-stac PATH``, ``refresh-queryables``,
``index-property``."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from auth.cli import fail
from exchange.policy import SYSTEM
from auth.service import find_org
from exchange.catalog import properties, property_indexes
from exchange.catalog.importer import ImportFailed, ImportReport, import_path
from exchange.catalog.models import Collection, IndexStatus, ItemStatus
from exchange.core.db import unit_of_work
from exchange.core.problems import Problem


@click.command("import-stac")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--collection", "collection_id",
              help="Target collection: every item is loaded into it (else each into the collection it names).")
@click.option("--provider", help="Owning organisation of the collections being created; for items, the one their "
                                 "collections must belong to.")
@click.option("--status", type=click.Choice([s.value for s in ItemStatus if s is not ItemStatus.processing]),
              default=ItemStatus.published.value, show_default=True, help="Status given to imported items.")
@click.option("--repair", is_flag=True,
              help="Make invalid footprints valid (Shapely make_valid) instead of refusing them.")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=None,
              help="Processes writing an NDJSON file into PostgreSQL (default: one per core; 1: this one alone).")
def import_stac_command(path: Path, collection_id: str | None, provider: str | None, status: str,
                        repair: bool, workers: int | None) -> None:
    """Import STAC collections (a file, or an array of them) or items (a FeatureCollection, an array, NDJSON);
    bad items are listed, the rest load."""
    provider_org_id = None
    if provider:
        org = find_org(provider)
        if org is None:
            fail(Problem(f"no organisation named {provider!r}"))
        provider_org_id = org.id
    try:
        with click.progressbar(length=0, label=f"importing {path.name}", show_pos=True) as bar:
            report = import_path(SYSTEM, path, collection_id=collection_id, provider_org_id=provider_org_id,
                                 status=ItemStatus(status), repair=repair, workers=workers, progress=bar.update)
    except ImportFailed as exc:
        fail(Problem(str(exc), errors=exc.errors))
    except Problem as problem:
        fail(problem)
    for note in report.notes:
        click.echo(f"note: {note}")
    for label, errors in report.failures:
        click.echo(f"failed {label}: {'; '.join(_text(e) for e in errors)}", err=True)
    click.echo(_summary(report))


def _summary(report: ImportReport) -> str:
    """"2 collections created, 1 existed already", "120 items written to 'a', 0 failed" or
    "120 items written: 100 to 'a', 20 to 'b', 0 failed"."""
    if report.collections:
        existed = len(report.collections) - len(report.created)
        return f"{len(report.created)} collections created, {existed} existed already"
    failed = f"{len(report.failures)} failed"
    if len(report.written_to) == 1:
        return f"{report.written} items written to {next(iter(report.written_to))!r}, {failed}"
    shares = "".join(f"{count} to {cid!r}, " for cid, count in report.written_to.items())
    return f"{report.written} items written: {shares}{failed}"


def _text(error: dict) -> str:
    return f"{error['field']}: {error['message']}" if error["field"] else error["message"]


@click.command("refresh-queryables")
@with_appcontext
@click.argument("collection_id", required=False)
def refresh_queryables_command(collection_id: str | None) -> None:
    """Recompute which properties the items carry (of one collection, or all): deletes never shrink it."""
    with unit_of_work():
        properties.refresh(collection_id)
    scope = f"collection {collection_id!r}" if collection_id else "every collection"
    carried = properties.types_by_name([collection_id] if collection_id else select(Collection.id))
    click.echo(f"{len(carried)} properties carried by the items of {scope}")


@click.command("index-property")
@with_appcontext
@click.argument("collection_id")
@click.argument("name")
@click.option("--kind", type=click.Choice(property_indexes.INDEX_KINDS), required=True,
              help="The JSON type the property's values are read as (others are left out of the index).")
def index_property_command(collection_id: str, name: str, kind: str) -> None:
    """Index a property of a collection's items now (the same as the API's request, built in this process)."""
    try:
        index = property_indexes.request_index(SYSTEM, collection_id, {"name": name, "kind": kind})
        status = property_indexes.build(index.id) if index.status is IndexStatus.building else index.status.value
    except Problem as problem:
        fail(problem)
    click.echo(f"index {index.index_name} on {name!r} ({kind}) of {collection_id!r}: {status}")
    if status == IndexStatus.failed.value:
        raise SystemExit(1)


COMMANDS = [import_stac_command, refresh_queryables_command, index_property_command]
