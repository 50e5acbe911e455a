"""Console commands of ingest: ``flask --app app sdx upload`` (a provider's upload client, HTTP only)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from exchange.ingest.client import (UploadClient, UploadFailed, declare_files, files_for_item, sha256_of,
                                    total_size)


@click.command("upload")
@click.option("--api", required=True, help="Base URL of the SDX platform, e.g. https://sdx.example.org")
@click.option("--token", required=True, envvar="SDX_TOKEN", help="Access token with catalog:write uploads:write.")
@click.option("--collection", required=True, help="Collection the product belongs to.")
@click.option("--item", "item_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The product's STAC item (JSON).")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 32), help="Parts sent at once.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for ingest to finish.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upload_command(api: str, token: str, collection: str, item_path: Path, workers: int, wait: bool,
                   files: tuple[Path, ...]) -> None:
    """Create a product from ITEM.json and upload FILES to it; an interrupted run resumes where it stopped."""
    try:
        item = json.loads(item_path.read_text())
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--item") from None
    if not isinstance(item, dict):
        raise click.BadParameter("the item must be a JSON object", param_hint="--item")
    client = UploadClient(api, token, workers=workers)
    local_files = files_for_item(item, list(files))
    try:
        product = client.create_product(collection, declare_files(item, local_files))
        product_id = product["properties"]["sdx:product_id"]
        click.echo(f"product {product_id}: {collection}/{item.get('id')}")
        with click.progressbar(length=total_size(local_files), label="checksums", show_eta=True) as bar:
            digests = [sha256_of(f.path, bar.update) for f in local_files]
        with click.progressbar(length=total_size(local_files), label="uploading", show_eta=True,
                               show_percent=True) as bar:
            for local, digest in zip(local_files, digests):
                client.upload(product_id, local, sha256=digest, progress=bar.update)
        if not wait:
            click.echo(f"uploaded; ingest runs on the platform: GET {api.rstrip('/')}/api/v1/products/{product_id}")
            return
        click.echo("waiting for ingest…")
        status = client.wait_for_ingest(product_id)
    except UploadFailed as exc:
        raise click.ClickException(str(exc)) from None
    if status["reasons"] or status["status"] not in ("published",):
        for reason in status["reasons"]:
            click.echo(f"  refused: {reason}", err=True)
        raise click.ClickException(f"product {product_id} is {status['status']}: {status['url']}")
    click.echo(f"published: {status['url']}")


COMMANDS = [upload_command]
