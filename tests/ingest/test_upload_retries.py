"""A part sent again: S3 keeps the newest PUT of a part number, and so must the platform (issue 9)."""
from __future__ import annotations

import time

import requests

from tests.ingest.conftest import MIB, write_geotiff


def test_a_part_sent_twice_counts_once_with_its_newest_bytes(provider, tmp_path):
    path = write_geotiff(tmp_path / "again.tif", width=2000, height=2000, noise=True)
    data = path.read_bytes()
    pid = provider.new_product("again-1")
    upload = provider.start(pid, "data", path).json()
    assert upload["part_count"] >= 2
    first = upload["parts"][0]["url"]
    assert requests.put(first, data=b"\0" * (5 * MIB), timeout=60).status_code == 200  # the wrong bytes
    time.sleep(1.1)  # S3's LastModified has whole seconds
    provider.send(upload, path)  # every part, part 1 again with the right bytes

    state = provider.api("GET", f"/api/v1/uploads/{upload['id']}").json()
    assert [p["part_number"] for p in state["received_parts"]] == list(range(1, upload["part_count"] + 1))
    assert state["received_bytes"] == len(data)
    completed = provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete")
    assert completed.status_code == 202, completed.text
    assert provider.status(pid)["status"] == "published"  # ingest found the SHA-256 of the right bytes
