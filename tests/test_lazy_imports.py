"""Every `winback` command and every Dagster process loads the code location; the libraries
only some steps need stay out of it (importing Great Expectations alone takes seconds): GE is
imported by the ingestion step that validates, scikit-learn by the churn steps, matplotlib by
the charts."""

import json
import subprocess
import sys

HEAVY = ("great_expectations", "sklearn", "scipy", "matplotlib", "ml.churn.pipeline")


def test_loading_the_code_location_imports_no_heavy_library():
    code = (
        "import json, sys; import orchestration.definitions, orchestration.runner; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
