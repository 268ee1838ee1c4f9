"""Time per op type from Chrome-trace profiles, as a markdown table (one column pair per trace).

    /usr/bin/python3 profile_summary.py [--skip-runs 1] [--by-shape] [--top N] NAME=TRACE.json [...]

Reads Peregrine's `run --profile` trace (one complete event per plan step, op type in
args.op_type, run index in args.run) and ONNX Runtime's own profile (enableProfiling: node
events named "<node>_kernel_time" with args.op_name, grouped into runs by the "model_run"
session events). The first --skip-runs runs of each trace are dropped: they include plan
compilation and first-touch page faults, which the timed benchmark excludes by warming up.
"""
import argparse
import collections
import json


def load_events(path):
    with open(path) as f:
        data = json.load(f)
    # Peregrine writes {"traceEvents": [...]}; ORT writes a bare list.
    return data["traceEvents"] if isinstance(data, dict) else data


def op_times(path, skip_runs, by_shape=False):
    """{op type: (ms per run, calls per run)} and the number of runs averaged over. With by_shape
    the key is op type plus the step's shapes (Peregrine traces), e.g. which Conv sizes cost most."""
    events = [e for e in load_events(path) if e.get("ph") == "X"]
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    if runs:  # ONNX Runtime: attribute each kernel to the model_run window that contains it
        windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in runs)
        steps = []
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                run = next((i for i, (a, b) in enumerate(windows) if a <= e["ts"] <= b), None)
                if run is not None:
                    steps.append((run, e["args"]["op_name"], e["dur"]))
        n_runs = len(windows)
    else:  # Peregrine
        steps = [(e["args"]["run"], e["args"]["op_type"] + (f" {e['args'].get('shapes', '')}" if by_shape else ""),
                  e["dur"]) for e in events if "op_type" in e.get("args", {})]
        n_runs = 1 + max(run for run, _, _ in steps)
    kept = n_runs - min(skip_runs, n_runs - 1)  # always keep at least the last run
    total, calls = collections.Counter(), collections.Counter()
    for run, op, dur in steps:
        if run >= n_runs - kept:
            total[op] += dur / 1e3  # trace durations are microseconds
            calls[op] += 1
    return {op: (total[op] / kept, calls[op] / kept) for op in total}, kept


def markdown(named_traces, skip_runs, by_shape=False, top=None):
    tables = [(name, *op_times(path, skip_runs, by_shape)) for name, path in named_traces]
    ops = sorted({op for _, t, _ in tables for op in t}, key=lambda op: -max(t.get(op, (0, 0))[0] for _, t, _ in tables))
    left_out = ops[top:] if top else []
    ops = ops[:top] if top else ops
    header = f"| {'op type and shapes' if by_shape else 'op type'} | " + " | ".join(f"{name} ms/run | {name} share | {name} calls" for name, _, _ in tables) + " |"
    lines = [header, "|---" + "|---:" * (3 * len(tables)) + "|"]
    for op in ops:
        cells = []
        for _, t, _ in tables:
            ms, calls = t.get(op, (0.0, 0))
            share = 100 * ms / max(sum(v[0] for v in t.values()), 1e-9)
            cells += [f"{ms:.2f}" if calls else "", f"{share:.1f}%" if calls else "", f"{calls:g}" if calls else ""]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    totals = []
    for _, t, kept in tables:
        totals += [f"**{sum(v[0] for v in t.values()):.2f}**", "100%", f"{sum(v[1] for v in t.values()):g}"]
    lines.append("| **sum of op time** | " + " | ".join(totals) + " |")
    runs = ", ".join(f"{name}: {kept}" for name, _, kept in tables)
    more = f" {len(left_out)} smaller rows left out; the sum covers all." if left_out else ""
    return "\n".join(lines) + f"\n\nAveraged over the last runs of each trace ({runs}).{more}\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("traces", nargs="+", metavar="NAME=TRACE.json")
    ap.add_argument("--skip-runs", type=int, default=1, help="leading runs to drop (warm-up)")
    ap.add_argument("--by-shape", action="store_true", help="one row per op type and shapes (Peregrine traces)")
    ap.add_argument("--top", type=int, help="only the N costliest rows")
    args = ap.parse_args()
    named = [t.split("=", 1) if "=" in t else (t, t) for t in args.traces]
    print(markdown(named, args.skip_runs, args.by_shape, args.top), end="")


if __name__ == "__main__":
    main()
