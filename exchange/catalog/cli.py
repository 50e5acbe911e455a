"""Console commands of the catalogue: ``flask --app app sdx import-stac PATH``."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from auth.cli import fail
from auth.policy import SYSTEM
from auth.service import find_org
from exchange.catalog.importer import ImportFailed, import_path
from exchange.catalog.models import ItemStatus
from exchange.core.problems import Problem


@click.command("import-stac")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--collection", "collection_id", help="Target collection (items are mapped into it).")
@click.option("--provider", help="Owning organisation of a collection being created.")
@click.option("--status", type=click.Choice([s.value for s in ItemStatus if s is not ItemStatus.processing]),
              default=ItemStatus.published.value, show_default=True, help="Status given to imported items.")
@click.option("--repair", is_flag=True,
              help="Make invalid footprints valid (Shapely make_valid) instead of refusing them.")
def import_stac_command(path: Path, collection_id: str | None, provider: str | None, status: str,
                        repair: bool) -> None:
    """Import a STAC collection file, a FeatureCollection or NDJSON; bad items are listed, the rest load."""
    provider_org_id = None
    if provider:
        org = find_org(provider)
        if org is None:
            fail(Problem(f"no organisation named {provider!r}"))
        provider_org_id = org.id
    try:
        with click.progressbar(length=0, label=f"importing {path.name}", show_pos=True) as bar:
            report = import_path(SYSTEM, path, collection_id=collection_id, provider_org_id=provider_org_id,
                                 status=ItemStatus(status), repair=repair, progress=bar.update)
    except ImportFailed as exc:
        fail(Problem(str(exc)))
    except Problem as problem:
        fail(problem)
    for note in report.notes:
        click.echo(f"note: {note}")
    for label, errors in report.failures:
        click.echo(f"failed {label}: {'; '.join(_text(e) for e in errors)}", err=True)
    click.echo(f"{report.written} items written to {report.collection_id!r}, {len(report.failures)} failed")


def _text(error: dict) -> str:
    return f"{error['field']}: {error['message']}" if error["field"] else error["message"]


COMMANDS = [import_stac_command]
