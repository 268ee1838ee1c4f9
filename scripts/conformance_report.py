#!/usr/bin/python3
"""Turns peregrine_conformance --json output into docs/conformance.md.

Usage:
  build/release/tests/conformance/peregrine_conformance --json /tmp/conformance.json
  /usr/bin/python3 scripts/conformance_report.py /tmp/conformance.json [-o docs/conformance.md]
or, running the runner too (default suites; extra runner arguments after --):
  /usr/bin/python3 scripts/conformance_report.py --runner build/release/tests/conformance/peregrine_conformance

The page lists per-suite totals, the op types that keep tests unsupported (with how many tests each
blocks), the failing tests, and then every test of every suite with its status.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

STATUSES = ("pass", "fail", "unsupported", "skipped")
MESSAGE_LIMIT = 160


def cell(text, limit=MESSAGE_LIMIT):
    """Text made safe for one Markdown table cell."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


# Unsupported features that are not one op: (pattern in the message, label).
FEATURES = (
    (re.compile(r"uses opset (\d+)"), "(opset {0})"),
    (re.compile(r"imports no version of the default ONNX operator set"), "(no default-domain opset)"),
    (re.compile(r"is a (sequence|optional|map|sparse tensor)\b|is not a tensor"), "(non-tensor values: sequence, optional, map)"),
    (re.compile(r"string tensors"), "(string tensors)"),
)


def blocking_ops(tests):
    """Maps each non-passing test to the op types (or features) blamed for it.

    The runner names the op when the engine's message mentions one of the model's ops. Otherwise a
    known feature message (opset, non-tensor values, strings) names the feature, or else the blame
    goes to the model's ops that no passing test uses (ops proven to work are not suspects).
    """
    working = set()
    for t in tests:
        if t["status"] == "pass":
            working.update(t["ops"])
    blame = {}
    for t in tests:
        if t["status"] in ("pass", "skipped"):
            continue
        feature = feature_of(t["message"])
        if t.get("blocking_op"):
            blame[id_of(t)] = [t["blocking_op"]]
        elif feature:
            blame[id_of(t)] = [feature]
        else:
            suspects = [op for op in t["ops"] if op not in working]
            blame[id_of(t)] = suspects or ["(not attributable to one op)"]
    return blame


def feature_of(message):
    for pattern, label in FEATURES:
        m = pattern.search(message)
        if m:
            return label.format(*m.groups())
    return None


def id_of(t):
    return t["suite"] + "/" + t["test"]


def totals_section(suites, tests):
    counts = collections.defaultdict(collections.Counter)
    for t in tests:
        counts[t["suite"]][t["status"]] += 1
    lines = ["| suite | pass | fail | unsupported | skipped | total |", "|---|---:|---:|---:|---:|---:|"]
    overall = collections.Counter()
    for suite in suites:
        c = counts[suite]
        overall.update(c)
        lines.append("| %s | %d | %d | %d | %d | %d |" % ((suite,) + tuple(c[s] for s in STATUSES) + (sum(c.values()),)))
    lines.append("| **all** | %d | %d | %d | %d | %d |" % (tuple(overall[s] for s in STATUSES) + (sum(overall.values()),)))
    return lines


def unsupported_section(tests, blame):
    per_op = collections.defaultdict(list)
    for t in tests:
        if t["status"] == "unsupported":
            for op in blame[id_of(t)]:
                per_op[op].append(id_of(t))
    lines = ["| op type or feature | tests blocked | examples |", "|---|---:|---|"]
    for op, ids in sorted(per_op.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        examples = ", ".join(i.split("/", 1)[1] for i in ids[:3]) + (", …" if len(ids) > 3 else "")
        lines.append("| %s | %d | %s |" % (cell(op), len(ids), cell(examples, 120)))
    return lines if per_op else ["None."]


def failures_section(tests):
    failing = [t for t in tests if t["status"] == "fail"]
    if not failing:
        return ["None."]
    lines = ["| test | reason | known failure |", "|---|---|---|"]
    for t in failing:
        lines.append("| %s | %s | %s |" % (id_of(t), cell(t["message"]), cell(t.get("known_failure", ""))))
    return lines


def suite_section(suite, tests, blame):
    rows = [t for t in tests if t["suite"] == suite]
    lines = ["### %s (%d tests)" % (suite, len(rows)), "", "| test | status | ops | note |", "|---|---|---|---|"]
    for t in rows:
        status = t["status"] if t["status"] == "pass" else "**%s**" % t["status"]
        note = ""
        if t["status"] == "unsupported":
            note = "blocked by " + ", ".join(blame[id_of(t)]) + ": " + t["message"]
        elif t["status"] in ("fail", "skipped"):
            note = t["message"]
        lines.append("| %s | %s | %s | %s |" % (t["test"], status, cell(" ".join(t["ops"]), 80), cell(note)))
    return lines


def render(results, generated_by):
    tests = results["tests"]
    suites = results["suites"]
    blame = blocking_ops(tests)
    parts = [
        "# ONNX backend conformance",
        "",
        "<!-- Generated; do not edit. -->",
        generated_by,
        "",
        "Test data: Debian's `libonnx-testdata` (`%s`). A test **passes** when every output matches "
        "ONNX's expected output in dtype, shape and value (floats: |got − expected| ≤ 1e-7 + 1e-3·|expected|, "
        "NaN = NaN; integers, bools and strings exactly). **unsupported**: the engine answered "
        "Unimplemented (an op, opset, type or feature Peregrine does not claim). **fail**: a wrong answer "
        "or any other error. The `conformance` ctest fails on any fail not listed in "
        "`tests/conformance/known_failures.txt` and on any test of `tests/conformance/expected_pass.txt` "
        "that stops passing." % results["data_root"],
        "",
        "Run it yourself: `build/release/tests/conformance/peregrine_conformance --suite node --filter 'conv' -v` "
        "(see `--help`); the gate alone: `ctest --test-dir build/release -R '^conformance$' --output-on-failure`.",
        "",
        "## Totals",
        "",
    ]
    parts += totals_section(suites, tests)
    parts += ["", "## Failing tests", ""] + failures_section(tests)
    parts += ["", "## Unsupported op types", "",
              "Each unsupported test is attributed to the op the engine's message names, or else to the "
              "model's ops that no passing test uses.", ""]
    parts += unsupported_section(tests, blame)
    parts += ["", "## All tests", ""]
    for suite in suites:
        parts += suite_section(suite, tests, blame) + [""]
    return "\n".join(parts).rstrip() + "\n"


def run_runner(runner, extra, json_path):
    """Runs peregrine_conformance; its exit status (the gate) does not stop the report."""
    cmd = [runner, "--json", json_path] + extra
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if not os.path.exists(json_path):
        sys.exit("runner failed (exit %d):\n%s" % (done.returncode, done.stdout))
    tail = done.stdout.strip().splitlines()[-1:] or [""]
    print("runner exit %d: %s" % (done.returncode, tail[0]), file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="?", help="output of peregrine_conformance --json")
    parser.add_argument("-o", "--out", default="docs/conformance.md", help="Markdown file to write")
    parser.add_argument("--runner", help="run this peregrine_conformance binary first (JSON to a temporary file)")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    extra = argv[split + 1:]  # after --: more arguments for the runner
    if args.runner:
        with tempfile.TemporaryDirectory() as tmp:
            json_path = os.path.join(tmp, "conformance.json")
            run_runner(args.runner, extra, json_path)
            command = "/usr/bin/python3 scripts/conformance_report.py --runner %s -o %s%s" % (
                args.runner, args.out, "".join(" " + a for a in ["--"] + extra) if extra else "")
            write_page(json_path, "Generated by `%s`." % command, args.out)
    elif args.json:
        command = "/usr/bin/python3 scripts/conformance_report.py %s -o %s" % (args.json, args.out)
        write_page(args.json, "Generated by `%s` from the results of `{runner}`." % command, args.out)
    else:
        parser.error("give the runner's JSON file or --runner")


def write_page(json_path, generated_by, out_path):
    with open(json_path, encoding="utf-8", errors="replace") as f:
        results = json.load(f)
    page = render(results, generated_by.replace("{runner}", results["command"]))
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(page)
    print("wrote %s (%d tests)" % (out_path, len(results["tests"])), file=sys.stderr)


if __name__ == "__main__":
    main()
