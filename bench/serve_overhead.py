"""What serving adds to the engine: `peregrine serve` under Apache Bench vs the same model run in-process,
interleaved and repeated; writes the `serve_overhead` section of docs/benchmarks.md.

    /usr/bin/python3 bench/serve_overhead.py [--rounds 5] [--requests 5000] [--no-docs]

Per round and model: the in-process p50 of `peregrine run --repeat N` (the engine alone, same inputs),
then `ab -n N -c 1 -k` (one keep-alive client: latency; p50 from ab's -e percentile table, which has
microsecond resolution), then `ab -n 4N -c 32 -k` (throughput, and every request must succeed).
Added latency = served p50 - in-process p50; the figure is the median over rounds.
Models: `simple` (Triton's INT32 add/sub, a 16-element request) and voice-verification-small (one
[1, 1, 40, 241] FP32 tensor, ~200 KB of JSON), both from examples/models.
Also runs the KServe codec micro-benchmark (build/release/bench/json_codec_bench, Google Benchmark):
decoding the seed-001 request, 9,640 FP32 values, target >= 300 MB/s of JSON.
"""
import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import docs_section
from serve_process import start_peregrine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "release", "src", "cli", "peregrine")
CODEC_BENCH = os.path.join(ROOT, "build", "release", "bench", "json_codec_bench")
MODELS = os.path.join(ROOT, "examples", "models")


def start_server(tmp, http_threads, inline_max_compute_us=None):
    extra = [] if inline_max_compute_us is None else ["--inline-max-compute-us", str(inline_max_compute_us)]
    return start_peregrine(BIN, MODELS, os.path.join(tmp, f"port{inline_max_compute_us}"), "--http-threads",
                           str(http_threads), *extra)


def workloads(tmp):
    """(name, model path, {input: array}, datatype) for each model."""
    rng = np.random.default_rng(0)
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    b = np.full((1, 16), 3, dtype=np.int32)
    mfcc = rng.standard_normal((1, 1, 40, 241)).astype(np.float32)
    out = []
    for name, inputs, datatype in (("simple", {"INPUT0": a, "INPUT1": b}, "INT32"),
                                   ("voice-verification-small", {"mfcc": mfcc}, "FP32")):
        body = {"inputs": [{"name": k, "datatype": datatype, "shape": list(v.shape), "data": v.flatten().tolist()}
                           for k, v in inputs.items()]}
        body_path = os.path.join(tmp, f"{name}.json")
        with open(body_path, "w") as f:
            json.dump(body, f)
        npys = []
        for k, v in inputs.items():
            path = os.path.join(tmp, f"{name}_{k}.npy")
            np.save(path, v)
            npys += ["--input", f"{k}={path}"]
        out.append({"name": name, "label": name, "model": os.path.join(MODELS, name, "1", "model.onnx"),
                    "npys": npys, "body": body_path, "body_bytes": os.path.getsize(body_path), "server": "default"})
    # The same small model with every request handed to the instance's worker thread, for comparison.
    out.append(dict(out[0], label="simple, inline execution off", server="handoff"))
    return out


def in_process_p50_us(w, n):
    out = subprocess.run([BIN, "run", w["model"], *w["npys"], "--repeat", str(n), "--threads", "1"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"p50 ([0-9.]+) ms", out).group(1)) * 1000


def ab(url, w, n, c, tmp):
    csv_path = os.path.join(tmp, "ab.csv")
    out = subprocess.run(["ab", "-q", "-k", "-n", str(n), "-c", str(c), "-s", "60", "-e", csv_path, "-p", w["body"],
                          "-T", "application/json", f"{url}/v2/models/{w['name']}/infer"],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(out.stdout + out.stderr)
    text = out.stdout
    failed = int(re.search(r"Failed requests:\s+(\d+)", text).group(1))
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", text)
    rps = float(re.search(r"Requests per second:\s+([0-9.]+)", text).group(1))
    with open(csv_path) as f:
        rows = {int(r[0]): float(r[1]) for r in list(csv.reader(f))[1:]}
    return {"p50_us": rows[50] * 1000, "p90_us": rows[90] * 1000, "p99_us": rows[99] * 1000, "rps": rps,
            "failed": failed + (int(non2xx.group(1)) if non2xx else 0)}


def codec_rates():
    """Median MB/s (CPU time) of each codec benchmark over 5 repetitions: {name: MB/s}."""
    out = subprocess.run([CODEC_BENCH, "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
                          "--benchmark_format=json"], capture_output=True, text=True, check=True).stdout
    rates = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            rates[b["run_name"]] = b["bytes_per_second"] / 1e6
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--http-threads", type=int, default=2)
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    if not shutil.which("ab"):
        raise SystemExit("needs ab (apache2-utils; scripts/setup.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="peregrine_serve_bench_")
    started = time.time()
    load_before = os.getloadavg()
    servers = {"default": start_server(tmp, args.http_threads),
               "handoff": start_server(tmp, args.http_threads, inline_max_compute_us=0)}
    results = {}
    try:
        ws = workloads(tmp)
        for w in ws:  # warm both paths once
            in_process_p50_us(w, 50)
            ab(servers[w["server"]][1], w, 200, 1, tmp)
        for r in range(args.rounds):
            for w in ws:
                url = servers[w["server"]][1]
                res = results.setdefault(w["label"], {"in_process": [], "c1": [], "c32": []})
                res["in_process"].append(in_process_p50_us(w, args.requests))
                res["c1"].append(ab(url, w, args.requests, 1, tmp))
                res["c32"].append(ab(url, w, args.requests * 4, 32, tmp))
                print(f"round {r + 1}/{args.rounds} {w['label']}: in-process {res['in_process'][-1]:.1f} us, "
                      f"served p50 {res['c1'][-1]['p50_us']:.1f} us, c32 {res['c32'][-1]['rps']:.0f} req/s, "
                      f"failed {res['c32'][-1]['failed'] + res['c1'][-1]['failed']}", file=sys.stderr)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)

    codec = codec_rates()
    med = statistics.median
    rows = []
    verdicts = []
    for w in ws:
        res = results[w["label"]]
        engine = med(res["in_process"])
        p50 = med([x["p50_us"] for x in res["c1"]])
        p99 = med([x["p99_us"] for x in res["c1"]])
        added = med([x["p50_us"] - e for x, e in zip(res["c1"], res["in_process"])])
        rps1 = med([x["rps"] for x in res["c1"]])
        rps32 = med([x["rps"] for x in res["c32"]])
        failed = sum(x["failed"] for x in res["c1"] + res["c32"])
        rows.append(f"| {w['label']} | {w['body_bytes']:,} | {engine:.1f} | {p50:.1f} | {p99:.1f} | **{added:.1f}** | "
                    f"{rps1:,.0f} | {rps32:,.0f} | {failed} |")
        verdicts.append((w["label"], added, failed))
    simple_added = dict((n, a) for n, a, _ in verdicts)["simple"]
    total_failed = sum(f for _, _, f in verdicts)
    md = [
        "## Serving overhead: `peregrine serve` vs the engine in-process",
        "",
        f"Written by `/usr/bin/python3 bench/serve_overhead.py --rounds {args.rounds} --requests {args.requests}` on "
        f"{time.strftime('%Y-%m-%d %H:%M %Z', time.localtime(started))} ({(time.time() - started) / 60:.1f} min). "
        f"Load average {load_before[0]:.1f} at the start (2 shared cores).",
        "",
        f"- Target: ≤ 50 µs added at p50 for a small model (`simple`): "
        f"**{'met' if simple_added <= 50 else 'missed'}** ({simple_added:.1f} µs).",
        f"- Target: zero failed requests at `-c 32`: **{'met' if total_failed == 0 else 'missed'}** "
        f"({total_failed} failed or non-2xx over all rounds).",
        "",
        "| model | JSON request bytes | in-process p50 µs | served p50 µs (ab -c 1 -k) | served p99 µs | "
        "added p50 µs | req/s at -c 1 | req/s at -c 32 | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"KServe codec (`{os.path.relpath(CODEC_BENCH, ROOT)} --benchmark_repetitions=5`, medians, MB/s of body per "
        "CPU second): the seed-001 request is one FP32 [1, 1, 40, 241] tensor (9,640 values); *17Digits* writes each "
        "value as Python's json.dumps of a float32 widened to double does, *Shortest* the shortest float32 text. "
        f"Target ≥ 300 MB/s decoding: **{'met' if codec.get('Decode/Json17Digits', 0) >= 300 else 'missed'}**.",
        "",
        "| benchmark | MB/s |",
        "|---|---:|",
        *[f"| {name} | {rate:,.0f} |" for name, rate in sorted(codec.items())],
        "",
        f"Method: one server (`--http-threads {args.http_threads}`, one instance per model with 1 intra-op thread "
        "on this 2-core machine) serves examples/models; `simple` runs on the I/O thread that received it (inline "
        "execution, docs/serving.md); a second server started with `--inline-max-compute-us 0` hands every "
        "request to the instance's worker and back (the row *inline execution off*); each round runs, per model, `peregrine run --repeat "
        f"{args.requests} --threads 1` (in-process p50), `ab -k -c 1 -n {args.requests}` and "
        f"`ab -k -c 32 -n {args.requests * 4}` with the same JSON body; figures are medians over rounds. "
        "ab runs on the same 2 cores as the server, so -c 32 measures both. \"Added\" includes loopback TCP, HTTP "
        "parsing, JSON decoding and encoding, queueing and the hand-offs between the I/O thread and the instance.",
    ]
    if not args.no_docs:
        docs_section.replace_section("serve_overhead", "\n".join(md))
        print("wrote docs/benchmarks.md (serve_overhead section)", file=sys.stderr)
    print("\n".join(md))


if __name__ == "__main__":
    main()
