"""schemathesis.py BUILD_DIR — a bounded property-based run of Schemathesis
(PyPI) from api/openapi.yaml against a private mcloud-api with a fresh
tenant's admin key: the coverage, fuzzing and stateful phases, every check
but positive_data_acceptance (a schema-valid string is not a cursor this API
signed, and a reused Idempotency-Key with another body is 422 by design).
Fails on any server error, undocumented status or header, content type or
body off the document — and when any operation got no generated case, or
the run generated fewer than MIN_CASES in all (a run that tried nothing
proves nothing)."""

import collections
import glob
import json
import os
import subprocess
import sys

from apitest import Api, Spec, log, main, new_tenant

MAX_EXAMPLES = 10   # per operation and phase: the budget
MIN_CASES = 60      # the run must have tried at least this many cases
SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")


def body(checks, scratch, build_dir, cleanups):
    api = Api(build_dir, scratch, rate_limit_per_s=100000, rate_limit_burst=100000)
    cleanups.append(api.stop)
    _, key = new_tenant(build_dir, "st")
    report = os.path.join(scratch, "report")
    cmd = [SCHEMATHESIS, "run", f"{api.url}/v1/openapi.json", "--url", api.url,
           "-H", f"Authorization: Bearer {key}", "--max-examples", str(MAX_EXAMPLES),
           "--phases", "examples,coverage,fuzzing,stateful", "--checks", "all",
           "--exclude-checks", "positive_data_acceptance", "--seed", "1",
           "--report", "ndjson,junit", "--report-dir", report, "--no-color"]
    log("running " + " ".join(c if "Bearer" not in c else "-H 'Authorization: Bearer ...'" for c in cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=500, cwd=scratch)  # its cache stays there
    print(r.stdout[-6000:], flush=True)
    checks.check(r.returncode == 0, "schemathesis found no failure", f"exit {r.returncode}: {r.stderr[-2000:]}")
    files = glob.glob(os.path.join(report, "ndjson-*.ndjson"))
    if not checks.check(len(files) == 1, "schemathesis wrote its event report", files):
        return
    cases = collections.Counter()
    operations = set()
    with open(files[0]) as f:
        for line in f:
            event = json.loads(line)
            if "LoadingFinished" in event:
                stats = event["LoadingFinished"].get("statistic", {}).get("operations", {})
                operations_total = stats.get("total", 0)
            s = event.get("ScenarioFinished")
            if not s:
                continue
            label = s.get("recorder", {}).get("label")
            operations.add(label)
            if s["status"] != "skip":
                cases[label] += len(s["recorder"].get("cases", {}))
    # every documented operation but GET /v1/openapi.json (Schemathesis does not count the document's own)
    documented = len([op for m, parts, op in Spec().ops if parts != ["v1", "openapi.json"]])
    checks.check(operations_total == documented, f"the document's {documented} operations were loaded",
                 operations_total)
    untried = sorted(op for op in operations if cases[op] == 0 and op and "->" not in op)
    checks.check(not untried, "every operation got generated cases", untried)
    total = sum(cases.values())
    log(f"schemathesis tried {total} cases: {dict(cases)}")
    checks.check(total >= MIN_CASES, f"at least {MIN_CASES} cases tried", total)


if __name__ == "__main__":
    sys.exit(main(body, sys.argv[1], "schemathesis"))
