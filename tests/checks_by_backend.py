#!/usr/bin/env python3
"""Sums the checks of a meson test log per database backend (scripts/test).

Reads meson's testlog.json (one JSON object per test) and Check's summary
line in each test's output ("Checks: N, Failures: F, Errors: E"). A test run
under scripts/pgtest ran on PostgreSQL; one of suite unit or observability
on no database; the others on SQLite. A test that failed without printing
Check's line (it crashed, or is not a Check program) counts as one failure,
one that passed without it as one check.

Usage: checks_by_backend.py TESTLOG.json          the summary, one line per backend
       checks_by_backend.py --totals TESTLOG.json  "PASSED FAILED" for the script
"""
import json
import re
import sys

CHECKS = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
NO_DATABASE = ("unit", "observability")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "none": "no database"}


def backend(test):
    if any("pgtest" in part for part in test.get("command", [])):
        return "postgresql"
    suite = test["name"].split(":", 1)[-1].split(" / ")[0]
    return "none" if suite in NO_DATABASE else "sqlite"


def tally(path):
    per = {b: {"passed": 0, "failed": 0, "tests": 0, "skipped": []} for b in LABELS}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            b = per[backend(t)]
            b["tests"] += 1
            if t["result"] == "SKIP":
                b["skipped"].append(t["name"].split(" / ")[-1])
                continue
            found = CHECKS.findall(t.get("stdout", "") + t.get("stderr", ""))
            for n, fails, errors in found:
                b["passed"] += int(n) - int(fails) - int(errors)
                b["failed"] += int(fails) + int(errors)
            if not found:
                b["passed" if t["result"] == "OK" else "failed"] += 1
            elif t["result"] not in ("OK", "EXPECTEDFAIL") and not any(
                    int(fl) + int(e) for _, fl, e in found):
                b["failed"] += 1  # Check passed but the program did not
    return per


def main(argv):
    totals = argv[1:2] == ["--totals"]
    per = tally(argv[-1])
    if totals:
        print(sum(b["passed"] for b in per.values()), sum(b["failed"] for b in per.values()))
        return 0
    for key, label in LABELS.items():
        b = per[key]
        skipped = f", {len(b['skipped'])} skipped ({', '.join(b['skipped'])})" if b["skipped"] else ""
        print(f"  {label}: {b['passed']} checks passed, {b['failed']} failed, "
              f"in {b['tests']} tests{skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
