"""Run stac-api-validator with no network: every fetch of a non-local URL is answered by a local server.

Runs inside the validator's own venv (see run.py). The validator reads JSON schemas through three HTTP
stacks (requests, urllib3 and urllib.request); each is redirected here, before any request is sent,
to a server on 127.0.0.1 that serves ``/<host>/<path>``:

- STAC 1.0.0 core schemas and the GeoJSON schemas: from the pystac 1.10.1 wheel (the last pystac that
  ships the 1.0.0 schemas; the wheel path is the first argument);
- JSON Schema meta-schemas: from jsonschema-specifications, installed with the validator;
- extension schemas (stac-extensions.github.io): no PyPI package ships them, so each one is answered
  with a schema that accepts anything: extension fields are not checked offline, and the run lists
  which extension schemas were stood in for;
- anything else (a license link, an asset on a public bucket): 404, listed at the end of the run.

Usage: python offline.py PYSTAC_WHEEL REPORT_JSON [stac-api-validator options…]
The report holds the errors and warnings (also those found before a crash of the validator), the crash
if any, and what could not be served offline.
"""
from __future__ import annotations

import json
import socket
import sys
import threading
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import urlsplit

import requests.adapters
import urllib3
from stac_api_validator import __main__ as cli
from stac_api_validator import validations

STAC_SCHEMAS = "pystac/validation/jsonschemas/"
#: Files of the pystac wheel → the URL path under which the validator asks for them.
WHEEL_FILES = {
    **{f"stac-spec/v1.0.0/{name}.json": f"schemas.stacspec.org/v1.0.0/item-spec/json-schema/{name}.json"
       for name in ("item", "basics", "datetime", "instrument", "licensing", "provider")},
    "stac-spec/v1.0.0/collection.json": "schemas.stacspec.org/v1.0.0/collection-spec/json-schema/collection.json",
    "stac-spec/v1.0.0/catalog.json": "schemas.stacspec.org/v1.0.0/catalog-spec/json-schema/catalog.json",
    "geojson/Feature.json": "geojson.org/schema/Feature.json",
    "geojson/Geometry.json": "geojson.org/schema/Geometry.json",
}
META_SCHEMAS = {"draft7": "json-schema.org/draft-07/schema", "draft6": "json-schema.org/draft-06/schema",
                "draft4": "json-schema.org/draft-04/schema", "draft201909": "json-schema.org/draft/2019-09/schema",
                "draft202012": "json-schema.org/draft/2020-12/schema"}
ANY_EXTENSION = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}).encode()
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def load_documents(wheel: str) -> dict[str, bytes]:
    """URL path (host/path, no scheme) → body, for every schema served from a package."""
    documents = {}
    with zipfile.ZipFile(wheel) as archive:
        for name, path in WHEEL_FILES.items():
            documents[path] = archive.read(STAC_SCHEMAS + name)
    specifications = resources.files("jsonschema_specifications") / "schemas"
    for folder, path in META_SCHEMAS.items():
        body = (specifications / folder / "metaschema.json").read_bytes()
        documents[path] = documents[path + "#"] = body
    return documents


class Schemas(BaseHTTPRequestHandler):
    documents: dict[str, bytes] = {}
    stood_in: set[str] = set()
    missing: set[str] = set()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.lstrip("/").split("?")[0]
        body = self.documents.get(path) or self.documents.get(path.rstrip("#"))
        if body is None and path.startswith("stac-extensions.github.io/") and path.endswith(".json"):
            self.stood_in.add("https://" + path)
            body = ANY_EXTENSION
        if body is None:
            self.missing.add(path)
            self.send_error(404, "not served offline")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        """Quiet: what was missing is summed up at the end."""


def is_local(host: str | None) -> bool:
    return not host or host in LOCAL_HOSTS or host.startswith("127.")


def redirect(url: str, base: str) -> str:
    """A non-local URL → the same host and path on the local schema server."""
    parts = urlsplit(url)
    if is_local(parts.hostname):
        return url
    return f"{base}/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def patch_http(base: str) -> None:
    """Point requests, urllib3 and urllib.request at the local server for every non-local URL."""
    adapter_send = requests.adapters.HTTPAdapter.send
    pool_urlopen = urllib3.PoolManager.urlopen
    opener_open = urllib.request.OpenerDirector.open

    def send(self, request, *args, **kwargs):
        request.url = redirect(request.url, base)
        return adapter_send(self, request, *args, **kwargs)

    def urlopen(self, method, url, *args, **kwargs):
        return pool_urlopen(self, method, redirect(url, base), *args, **kwargs)

    def open_(self, fullurl, *args, **kwargs):
        if isinstance(fullurl, str):
            fullurl = redirect(fullurl, base)
        else:
            fullurl.full_url = redirect(fullurl.full_url, base)
        return opener_open(self, fullurl, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = send
    urllib3.PoolManager.urlopen = urlopen
    urllib.request.OpenerDirector.open = open_


def loopback_only() -> None:
    """Whatever would still reach past the redirection fails loudly instead of going out."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if not is_local(host.decode() if isinstance(host, bytes) else host):
            raise OSError(f"offline run: no connection to {host}")
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


CRASHES: list[str] = []


def with_filter_classes(validate_api):
    """The CLI offers ``filter`` but 0.6.8 only acts on ``item-search#filter``/``features#filter``,
    which the CLI does not accept: map the one onto the other two so the filter checks run.
    A crash of the validator is noted for the report."""
    def validate(**kwargs):
        classes = list(kwargs["ccs_to_validate"])
        if "filter" in classes:
            classes += ["item-search#filter", "features#filter"]
        try:
            return validate_api(**{**kwargs, "ccs_to_validate": classes})
        except Exception as crash:
            CRASHES.append(f"{type(crash).__name__}: {crash}")
            raise
    return validate


def kept(base):
    """The validator's error (warning) list class, whose lists stay readable after a crash: 0.6.8 stops
    on the first unexpected answer (it reads the body of a 400) and then prints none it had found."""
    class Kept(base):
        lists: list = []

        def __init__(self) -> None:
            super().__init__()
            self.lists.append(self)

        @classmethod
        def found(cls) -> list[str]:
            return [entry for found in cls.lists for entry in found]
    return Kept


KeptErrors, KeptWarnings = kept(validations.Errors), kept(validations.Warnings)


def with_typed_query_values(validate_query):
    """The CLI hands every query value over as a string and 0.6.8 sends it as is ({"eq": "0"}), while it
    checks the results as numbers: send the comparison values as the numbers they are meant to be."""
    def validate(**kwargs):
        config = kwargs["query_config"]
        for name in ("eq", "neq", "lt", "lte", "gt", "gte"):
            value = getattr(config, f"query_{name}_value")
            if value is not None:
                setattr(config, f"query_{name}_value", float(value))
        return validate_query(**kwargs)
    return validate


def report_errors_before_a_crash() -> None:
    if KeptErrors.found():
        print("Errors found before the validator stopped:")
        for error in KeptErrors.found():
            print(f"- {error}")


def report_offline_gaps() -> None:
    if Schemas.stood_in:
        print("Offline: extension schemas not checked (no package ships them): "
              + ", ".join(sorted(Schemas.stood_in)))
    if Schemas.missing:
        print("Offline: not served, answered 404: " + ", ".join(sorted(Schemas.missing)))


def write_report(path: str) -> None:
    report = {"errors": KeptErrors.found(), "warnings": KeptWarnings.found(), "crashes": CRASHES,
              "extension_schemas_not_checked": sorted(Schemas.stood_in), "not_served": sorted(Schemas.missing)}
    with open(path, "w") as out:
        json.dump(report, out, indent=1)


def main() -> int:
    wheel, report, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    Schemas.documents = load_documents(wheel)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Schemas)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    patch_http(f"http://127.0.0.1:{server.server_address[1]}")
    loopback_only()
    cli.validate_api = with_filter_classes(cli.validate_api)
    validations.Errors, validations.Warnings = KeptErrors, KeptWarnings
    validations.validate_query = with_typed_query_values(validations.validate_query)
    try:
        code = int(cli.main(args=args, prog_name="stac-api-validator", standalone_mode=False) or 0)
        if CRASHES:
            report_errors_before_a_crash()
        return code
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        report_offline_gaps()
        write_report(report)
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
