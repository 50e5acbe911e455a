"""bench/web.py at two rounds, on SQLite: it imports the sample catalogue, signs a buyer in through the
form and prints every pair and page with a ratio — so the README's figures come from pages that answer."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import project_root


def test_the_web_bench_prints_each_pair_and_page(tmp_path):
    samples = os.environ.get("SDX_TEST_SAMPLE_STAC") or str(project_root().parent / "shared" / "data" / "stac")
    if not Path(samples).is_dir():
        pytest.skip("the sample STAC sets are not beside the project (SDX_TEST_SAMPLE_STAC)")
    env = {name: value for name, value in os.environ.items() if not name.startswith("SDX_")}  # the test run's own
    env.update(PYTHONPATH=str(project_root()), SDX_DEMO_STAC_DIR=samples)
    done = subprocess.run([sys.executable, "bench/web.py", "--rounds", "2"], cwd=project_root(), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "demo catalogue: 1000 items in 'naip'" in done.stdout
    for line in ("search, 20 results (anonymous)", "product page vs STAC item (buyer)", "/licenses", "/usage"):
        assert line in done.stdout
    ratios = [float(line.split()[-1]) for line in done.stdout.splitlines() if line.startswith(("search,", "product", "home"))]
    assert len(ratios) == 4 and all(ratio > 0 for ratio in ratios)
