"""`make stac-validate`: stac-api-validator 0.6.8 against a fresh SDX, with no network.

Starts SDX as `make run` does (a temporary SQLite + the embedded S3, with the demo catalogue and
accounts), takes a token of the demo provider (the transaction class writes), and runs the validator
through offline.py in a venv of its own, once per group of conformance classes: 0.6.8 stops at the
first unexpected answer, and one group's stop must not hide another group's errors. Exits 1 when an
error is SDX's; errors known to be the validator's own are listed apart, each with its reason.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from storage.embedded import free_ports  # noqa: E402
from tests.catalog.conftest import SAMPLES  # noqa: E402
from tests.test_run import start_platform, stop_platform  # noqa: E402

REQUIREMENTS = HERE / "requirements.txt"
#: The last pystac whose wheel ships the STAC 1.0.0 schemas (SDX serves STAC 1.0.0).
SCHEMA_PACKAGE = "pystac==1.10.1"
VENV = Path(os.environ.get("SDX_VALIDATOR_VENV") or ROOT / ".venv-stac-api-validator")

COLLECTION = "sentinel-s2-l2a-cogs-test"
#: Inside the footprints of most of that collection's sample items.
GEOMETRY = {"type": "Polygon", "coordinates": [[[177, -73], [178, -73], [178, -72], [177, -72], [177, -73]]]}
#: A collection of its own for the transaction checks, so the items they write stay out of the others'.
TRANSACTION_COLLECTION = "stac-api-validator"
#: The item the transaction checks create; their first step DELETEs it and wants 204, so it must exist.
TRANSACTION_ITEM = "S2A_47XNF_20230423_0_L2A"
#: The filter checks name a property `mission` (LIKE 'sentinel%'), which no sample item carries: an item
#: that does makes them test the operators rather than the sample data.
MISSION_ITEM = "stac-api-validator-mission"
OPTIONS = [
    "--collection", COLLECTION, "--transaction-collection", TRANSACTION_COLLECTION, "--geometry", json.dumps(GEOMETRY),
    "--validate-pagination",
    "--fields-nested-property", "properties.eo:cloud_cover",
    "--query-comparison-field", "eo:cloud_cover", "--query-eq-value", "0", "--query-neq-value", "0",
    "--query-lt-value", "50", "--query-lte-value", "50", "--query-gt-value", "50", "--query-gte-value", "50",
    "--query-substring-field", "platform", "--query-starts-with-value", "sentinel",
    "--query-ends-with-value", "2b", "--query-contains-value", "nel-2",
    "--query-in-field", "platform", "--query-in-values", "sentinel-2a,sentinel-2b",
]
GROUPS = [["core", "collections", "features"], ["item-search"], ["filter"], ["item-search#sort"],
          ["item-search#fields"], ["item-search#query"], ["transaction"]]

#: Errors (and stops) of 0.6.8 that are its own, not SDX's: pattern → why.
VALIDATOR_BUGS = [
    (r'"op": "between", "args": \[\{"property": "[^"]+"\}, \[',
     "CQL2 1.0 'between' takes three arguments (property, low, high); 0.6.8 sends the draft form "
     "(property, [low, high]), which SDX refuses with a 400 naming the operator"),
    (r'PUT \S+ params=None body=\{[^}]*"eo:cloud_cover": "3\.14".* unexpected status code 422',
     "its PUT sets eo:cloud_cover to the string \"3.14\" in an item that declares the eo extension, "
     "where it is a number: SDX refuses the invalid item (422) and keeps the stored one"),
    (r"PUT - eo:cloud_cover value did not match",
     "follows from the refused PUT above (SDX kept the valid stored item)"),
    (r"""Query '\{"platform": \{"in": \["sentinel-2a", "sentinel-2b"\]\}\}' had non-matching results: """
     r"""got \[(?:'sentinel-2[ab]'(?:, )?)+\]$""",
     "its 'in' check takes the property for an array and compares the characters of a string property "
     "with the values; every result shown is one of the values asked for"),
    (r"validator stopped: KeyError: 'foo'",
     "follows from the refused PUT above: 0.6.8 reads a property its refused PUT would have added"),
]


def validator_venv() -> Path:
    """The validator's venv with the pinned requirements, and the schema wheel; (re)made when they change."""
    python, wheels = VENV / "bin" / "python", VENV / "schemas"
    stamp, wanted = VENV / ".sdx-requirements", REQUIREMENTS.read_text() + SCHEMA_PACKAGE
    if not (stamp.exists() and stamp.read_text() == wanted and python.exists()):
        print(f"Installing stac-api-validator into {VENV}…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "--quiet", "--disable-pip-version-check"]
        subprocess.run(pip + ["install", "-r", str(REQUIREMENTS)], check=True)
        subprocess.run(pip + ["download", "--no-deps", "--dest", str(wheels), SCHEMA_PACKAGE], check=True)
        stamp.write_text(wanted)
    return next(wheels.glob("pystac-*.whl"))


def provider_token(base: str, var_dir: Path) -> str:
    account = json.loads((var_dir / "demo-accounts.json").read_text())["provider@sdx.example"]
    answer = requests.post(base + "oauth/token", data={"grant_type": "client_credentials"}, timeout=30,
                           auth=(account["client_id"], account["client_secret"]))
    answer.raise_for_status()
    return answer.json()["access_token"]


def seed(base: str, token: str) -> None:
    """The transaction checks' collection, holding the item they start by deleting and one with a `mission`."""
    auth = {"Authorization": f"Bearer {token}"}
    collection = {"type": "Collection", "stac_version": "1.0.0", "id": TRANSACTION_COLLECTION, "links": [],
                  "description": "Items written by stac-api-validator's transaction checks.", "license": "proprietary",
                  "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}}}
    items = [{"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": TRANSACTION_COLLECTION,
              "geometry": {"type": "Point", "coordinates": [100.0, 77.0]},
              "properties": {"datetime": "2023-04-23T06:47:03Z", **properties}, "assets": {}, "links": []}
             for item_id, properties in ((TRANSACTION_ITEM, {}), (MISSION_ITEM, {"mission": "sentinel-2"}))]
    items_url = f"{base}stac/collections/{TRANSACTION_COLLECTION}/items"
    for url, document in ((f"{base}stac/collections", collection), *((items_url, item) for item in items)):
        answer = requests.post(url, json=document, headers=auth, timeout=30)
        if answer.status_code != 201:
            raise SystemExit(f"could not prepare the transaction checks: POST {url} → "
                             f"{answer.status_code} {answer.text}")


def run_group(python: Path, wheel: Path, base: str, token: str, classes: list[str], report: Path) -> dict:
    conformance = [arg for name in classes for arg in ("--conformance", name)]
    print(f"\n=== stac-api-validator --conformance {' '.join(classes)}", flush=True)
    done = subprocess.run([str(python), str(HERE / "offline.py"), str(wheel), str(report), "--log-level", "WARNING",
                           "--root-url", base + "stac/", "--auth-bearer-token", token, *OPTIONS, *conformance])
    if not report.exists():  # offline.py itself failed: counted as SDX's until someone looks
        return {"errors": [], "warnings": [], "extension_schemas_not_checked": [],
                "crashes": [f"offline.py ended with status {done.returncode} and no report"]}
    return json.loads(report.read_text())


def whose(message: str) -> str | None:
    """The reason a message is the validator's own, or None when it is SDX's."""
    return next((why for pattern, why in VALIDATOR_BUGS if re.search(pattern, message)), None)


def summarise(results: dict[str, dict]) -> int:
    sdx, validators = [], []
    for group, result in results.items():
        for message in result["errors"] + [f"validator stopped: {c}" for c in result["crashes"]]:
            why = whose(message)
            (validators if why else sdx).append(f"[{group}] {message}" + (f"\n    (validator's: {why})" if why else ""))
    print("\n=== Summary")
    for group, result in results.items():
        print(f"{group}: {len(result['errors'])} errors, {len(result['warnings'])} warnings"
              + (", validator stopped" if result["crashes"] else ""))
    not_checked = sorted({s for r in results.values() for s in r["extension_schemas_not_checked"]})
    if not_checked:
        print("Extension schemas not checked offline: " + ", ".join(not_checked))
    if validators:
        print(f"\n{len(validators)} errors are the validator's own:\n" + "\n".join(validators))
    print(f"\n{len(sdx)} errors are SDX's" + (":\n" + "\n".join(sdx) if sdx else "."))
    return 1 if sdx else 0


def main() -> int:
    if not SAMPLES.exists():
        raise SystemExit(f"no sample STAC data at {SAMPLES}: set SDX_TEST_SAMPLE_STAC to the folder of the sample sets")
    wheel = validator_venv()
    python = VENV / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="sdx-stac-validate-") as tmp:
        var_dir = Path(tmp) / "var"
        process, base, _ = start_platform(var_dir, free_ports(1)[0])
        try:
            seed(base, provider_token(base, var_dir))
            results = {}
            for number, classes in enumerate(GROUPS):  # a fresh token each time: one lives 10 minutes
                token = provider_token(base, var_dir)
                report = Path(tmp) / f"report-{number}.json"
                results[" ".join(classes)] = run_group(python, wheel, base, token, classes, report)
        finally:
            stop_platform(process)
    return summarise(results)


if __name__ == "__main__":
    sys.exit(main())
