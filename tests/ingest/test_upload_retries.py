"""A part sent again: S3 keeps the newest PUT of a part number, and so must the platform (issue 9)."""
from __future__ import annotations

import time

import requests

from tests.ingest.conftest import MIB, bucket_listing, write_geotiff


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


def test_the_same_upload_started_at_once_opens_one(provider, tmp_path):
    """Eight clients start the same asset's upload together: one upload is opened, the others are told
    which one (409 with its id), nothing answers 500 and no stray multipart upload is left in S3."""
    from concurrent.futures import ThreadPoolExecutor

    path = write_geotiff(tmp_path / "twin.tif", width=2000, height=2000, noise=True)  # multipart
    pid = provider.new_product("twin-1")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: provider.start(pid, "data", path), range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1 and set(codes) <= {201, 409}, [(a.status_code, a.text[:200]) for a in answers]
    opened = next(a.json() for a in answers if a.status_code == 201)
    assert all(a.json()["upload_id"] == opened["id"] for a in answers if a.status_code == 409)
    assert len(bucket_listing(provider.live.app)["open-multipart"]) == 1
