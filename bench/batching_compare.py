"""Dynamic batching under load: `peregrine serve` with the dynamic batcher off and on, and a Node.js HTTP
server on onnxruntime-node as the peer, for the voice-verification models at concurrency 1, 4, 16 and 64;
writes the `batching_compare` section of docs/benchmarks.md.

    /usr/bin/python3 bench/batching_compare.py [--rounds 3] [--seconds 6] [--bin PATH] [--only small] [--no-docs]

Every server runs for the whole of one model's measurements, each on its own port; the load generator is
wrk (one thread, keep-alive connections, a Lua script that POSTs the same KServe V2 JSON body: one
[1, 1, 40, 241] MFCC-like row). Each round visits every (server, concurrency) cell once, in a fresh shuffled
order: 2 s of warm-up load, then the measured run. Figures are medians over rounds; failed requests
(non-2xx, socket errors, timeouts) are summed over all rounds and must be zero.

Peregrine configurations are the model's own config.pbtxt (examples/models/...: dynamic batching on,
one instance whose intra-op threads are cores / instances) and variants of it written to a temporary
repository: the dynamic_batching block removed ("off"), and two instances ("2 inst") for the
instances-by-threads trade-off. The peer is bench/ort_server.mjs at three settings: 1 process x 1 ORT
thread, 1 x 2, and 2 processes x 1 (node:cluster); its best (highest peak) is compared.
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

import docs_section

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
MODELS = os.path.join(ROOT, "examples", "models")
REFERENCE = os.path.join(ROOT, "examples", "voice-verification", "reference")
CONCURRENCY = (1, 4, 16, 64)
START_TIMEOUT_S = 300

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()
"""


def log_tail(path):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-20:])
    except OSError:
        return ""


def wait_for_port(proc, port_file, name):
    deadline = time.monotonic() + START_TIMEOUT_S
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{name} did not start (exit code {proc.poll()}):\n{log_tail(port_file + '.log')}")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{int(open(port_file).read())}"
    while True:
        try:
            if urllib.request.urlopen(url + "/v2/health/ready", timeout=5).status == 200:
                return url
        except Exception:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{name} not ready (exit code {proc.poll()}):\n{log_tail(port_file + '.log')}")
        time.sleep(0.1)


class Server:
    """Started by start(), one at a time, so that loading (the full model takes a while) is not slowed
    by the others loading too."""

    def __init__(self, label, kind, setting, argv, port_file, cwd=None, env=None):
        self.label, self.kind, self.setting = label, kind, setting
        self.argv, self.port_file, self.cwd, self.env = argv, port_file, cwd, env
        self.proc = None

    def start(self):
        self.log = open(self.port_file + ".log", "w")
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = wait_for_port(self.proc, self.port_file, self.label)

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def variant_config(text, batching, instances):
    if not batching:
        text, n = re.subn(r"\ndynamic_batching \{.*?\n\}\n", "\n", text, flags=re.S)
        assert n == 1, "config has no dynamic_batching block"
    text, n = re.subn(r"instance_group \[ \{ count: 1 kind: KIND_CPU \} \]",
                      f"instance_group [ {{ count: {instances} kind: KIND_CPU }} ]", text)
    assert n == 1, "config has no single-instance instance_group"
    return text


def peregrine_server(args, tmp, model, label, batching, instances):
    repo = os.path.join(tmp, label.replace(" ", "_"))
    os.makedirs(os.path.join(repo, model, "1"))
    os.symlink(os.path.join(MODELS, model, "1", "model.onnx"), os.path.join(repo, model, "1", "model.onnx"))
    with open(os.path.join(MODELS, model, "config.pbtxt")) as f:
        config = variant_config(f.read(), batching, instances)
    with open(os.path.join(repo, model, "config.pbtxt"), "w") as f:
        f.write(config)
    port_file = os.path.join(tmp, label.replace(" ", "_") + ".port")
    argv = [args.bin, "serve", "--model-repository", repo, "--http-address", "127.0.0.1", "--http-port", "0",
            "--port-file", port_file]
    return Server(label, "peregrine", f"{instances} inst, batching {'on' if batching else 'off'}", argv, port_file)


def peer_server(tmp, model, threads, workers):
    label = f"ORT {workers}x{threads}"
    port_file = os.path.join(tmp, label.replace(" ", "_") + ".port")
    argv = ["node", "ort_server.mjs", "--model", os.path.join(MODELS, model, "1", "model.onnx"), "--name", model,
            "--threads", str(threads), "--workers", str(workers), "--port-file", port_file]
    return Server(label, "peer", f"{workers} process(es) x {threads} thread(s)", argv, port_file, cwd=BENCH)


def write_body(tmp, model, variant):
    path = os.path.join(REFERENCE, variant, "batch1_mfcc.npy")
    x = np.load(path) if os.path.exists(path) else np.random.default_rng(0).standard_normal((1, 1, 40, 241))
    data = [float(f"{v:.7g}") for v in x.astype(np.float32).flatten()]
    body = {"inputs": [{"name": "mfcc", "datatype": "FP32", "shape": list(x.shape), "data": data}]}
    body_path = os.path.join(tmp, f"{model}.json")
    with open(body_path, "w") as f:
        json.dump(body, f)
    script = os.path.join(tmp, f"{model}.lua")
    with open(script, "w") as f:
        f.write(LUA.format(body=body_path))
    return script, os.path.getsize(body_path)


def to_ms(text):
    value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url, model, script, concurrency, seconds):
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "60s", "--latency",
                          "-s", script, f"{url}/v2/models/{model}/infer"],
                         capture_output=True, text=True, timeout=seconds + 120)
    text = out.stdout
    if out.returncode != 0 or "Requests/sec" not in text:
        raise SystemExit(f"wrk failed:\n{text}\n{out.stderr}")
    percentiles = {int(p): to_ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+([0-9.]+(?:us|ms|s))\s*$", text, re.M)}
    if 50 not in percentiles or 99 not in percentiles:
        raise SystemExit(f"no latency percentiles from wrk (no request completed?):\n{text}\n{out.stderr}")
    failed = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    failed += int(non2xx.group(1)) if non2xx else 0
    return {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1)), "p50": percentiles[50],
            "p99": percentiles[99], "failed": failed,
            "requests": int(re.search(r"(\d+) requests in", text).group(1))}


def cpu_seconds(pid):
    """User + system CPU seconds of a process and its direct children (node:cluster workers)."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def engine_calls(server, model):
    """(inferences, engine executions) so far, from Peregrine's statistics extension."""
    with urllib.request.urlopen(f"{server.url}/v2/models/{model}/stats", timeout=10) as r:
        s = json.load(r)["model_stats"][0]
    return s["inference_count"], s["execution_count"]


def measure_model(args, tmp, model, variant, seconds):
    script, body_bytes = write_body(tmp, model, variant)
    servers = [peregrine_server(args, tmp, model, "Peregrine batching off", False, 1),
               peregrine_server(args, tmp, model, "Peregrine batching on", True, 1)]
    if variant == "small":
        servers += [peregrine_server(args, tmp, model, "Peregrine batching off 2 inst", False, 2),
                    peregrine_server(args, tmp, model, "Peregrine batching on 2 inst", True, 2)]
    servers += [peer_server(tmp, model, 1, 1), peer_server(tmp, model, 2, 1), peer_server(tmp, model, 1, 2)]
    results = {}
    try:
        for s in servers:
            s.start()
        cells = [(s, c) for s in servers for c in CONCURRENCY]
        for r in range(args.rounds):
            random.Random(r).shuffle(cells)
            for s, c in cells:
                wrk(s.url, model, script, c, 2)  # warm-up: JIT, plans, batch sizes
                before = engine_calls(s, model) if s.kind == "peregrine" else None
                cpu_before = cpu_seconds(s.proc.pid)
                res = wrk(s.url, model, script, c, seconds)
                res["cpu_ms"] = (cpu_seconds(s.proc.pid) - cpu_before) * 1000 / max(1, res["requests"])
                if before:
                    after = engine_calls(s, model)
                    res["rows_per_call"] = (after[0] - before[0]) / max(1, after[1] - before[1])
                results.setdefault((s.label, c), []).append(res)
                print(f"{model} round {r + 1}/{args.rounds} {s.label} c={c}: {res['rps']:.0f} inf/s, "
                      f"p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms, server CPU {res['cpu_ms']:.3f} ms/inference, "
                      f"failed {res['failed']}", file=sys.stderr)
    finally:
        for s in servers:
            s.stop()
    summary = {}
    for (label, c), runs in results.items():
        summary[(label, c)] = {
            "rps": statistics.median(x["rps"] for x in runs), "p50": statistics.median(x["p50"] for x in runs),
            "p99": statistics.median(x["p99"] for x in runs), "failed": sum(x["failed"] for x in runs),
            "cpu_ms": statistics.median(x["cpu_ms"] for x in runs),
            "requests": sum(x["requests"] for x in runs),
            "rows_per_call": (statistics.median(x["rows_per_call"] for x in runs)
                              if "rows_per_call" in runs[0] else None)}
    return {"model": model, "variant": variant, "body_bytes": body_bytes, "seconds": seconds,
            "labels": [s.label for s in servers], "settings": {s.label: s.setting for s in servers}, "cells": summary}


def cell(m, label, c):
    return m["cells"][(label, c)]


def peak(m, label):
    return max(cell(m, label, c)["rps"] for c in CONCURRENCY)


def best_peer(m):
    return max((label for label in m["labels"] if label.startswith("ORT")), key=lambda label: peak(m, label))


def markdown(args, measured, started, load_before, load_after):
    off, on = "Peregrine batching off", "Peregrine batching on"
    lines = ["## Dynamic batching under load: Peregrine vs a Node.js server on onnxruntime-node", "",
             f"Written by `/usr/bin/python3 bench/batching_compare.py --rounds {args.rounds} --seconds "
             f"{args.seconds}` on {time.strftime('%Y-%m-%d %H:%M %Z', time.localtime(started))} "
             f"({(time.time() - started) / 60:.1f} min). Machine: {os.cpu_count()} shared cores; load average "
             f"{load_before:.1f} at the start, {load_after:.1f} at the end (1-minute). Regenerate it with that "
             "command; do not edit by hand.", "", "### Targets", ""]
    total_failed = sum(v["failed"] for m in measured for v in m["cells"].values())
    for m in measured:
        if m["variant"] == "small":
            ratios = [cell(m, on, c)["rps"] / cell(m, off, c)["rps"] for c in CONCURRENCY if c >= 16]
            met = all(r >= 1.2 for r in ratios)
            lines.append(f"- {m['model']}: throughput with batching ≥ 1.2× without at concurrency ≥ 16: "
                         f"**{'met' if met else 'missed'}** ("
                         + ", ".join(f"c={c} {r:.2f}×" for c, r in zip([c for c in CONCURRENCY if c >= 16], ratios))
                         + ").")
    for m in measured:
        peer = best_peer(m)
        ratio = peak(m, on) / peak(m, peer)
        lines.append(f"- {m['model']}: Peregrine's peak throughput (its config, batching on) ≥ 1.5× the peer's "
                     f"best: **{'met' if ratio >= 1.5 else 'missed'}** ({peak(m, on):,.0f} vs {peak(m, peer):,.0f} "
                     f"inferences/s, {ratio:.2f}×; peer best setting: {m['settings'][peer]}).")
    lines.append(f"- Zero failed requests at every level: **{'met' if total_failed == 0 else 'missed'}** "
                 f"({total_failed} failed of {sum(v['requests'] for m in measured for v in m['cells'].values()):,}).")
    for m in measured:
        peer = best_peer(m)
        lines += ["", f"### {m['model']} (one {m['body_bytes']:,}-byte JSON request = one row)", "",
                  "| concurrency | batching off inf/s | p50 ms | p99 ms | batching on inf/s | p50 ms | p99 ms | "
                  "rows per engine call | on ÷ off | peer inf/s | p50 ms | p99 ms | on ÷ peer |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in CONCURRENCY:
            a, b, p = cell(m, off, c), cell(m, on, c), cell(m, peer, c)
            lines.append(f"| {c} | {a['rps']:,.0f} | {a['p50']:.2f} | {a['p99']:.2f} | {b['rps']:,.0f} | "
                         f"{b['p50']:.2f} | {b['p99']:.2f} | {b['rows_per_call']:.2f} | {b['rps'] / a['rps']:.2f}× | "
                         f"{p['rps']:,.0f} | {p['p50']:.2f} | {p['p99']:.2f} | {b['rps'] / p['rps']:.2f}× |")
        lines += ["", f"Peer: {m['settings'][peer]} (its best). Inferences/s of every setting, and the server's CPU "
                  "time per inference (user + system, all its threads and processes) at concurrency 16 - a figure "
                  "that other load on the machine disturbs much less than throughput:", "",
                  "| server | setting | " + " | ".join(f"c={c}" for c in CONCURRENCY)
                  + " | CPU ms/inference | failed |",
                  "|---|---|" + "---:|" * (len(CONCURRENCY) + 2)]
        for label in m["labels"]:
            lines.append(f"| {label} | {m['settings'][label]} | "
                         + " | ".join(f"{cell(m, label, c)['rps']:,.0f}" for c in CONCURRENCY)
                         + f" | {cell(m, label, 16)['cpu_ms']:.3f}"
                         + f" | {sum(cell(m, label, c)['failed'] for c in CONCURRENCY)} |")
    lines += ["", "Method: " + __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(),
              "`rows per engine call` comes from the server's statistics (inferences ÷ executions during the "
              "measured run). Peregrine's threads per instance are derived (cores ÷ instances); the 2-instance rows "
              "are the \"two instances × one thread\" side of the trade-off described in docs/serving.md."]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=6, help="measured seconds per cell (x2 for the full model)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "release", "src", "cli", "peregrine"))
    ap.add_argument("--only", choices=["small", "full"])
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (Debian package wrk)")
    if not os.path.isdir(os.path.join(BENCH, "node_modules", "onnxruntime-node")):
        print("installing onnxruntime-node (npm ci --ignore-scripts) ...", file=sys.stderr)
        subprocess.run(["npm", "ci", "--ignore-scripts"], cwd=BENCH, check=True)
    workloads = [("voice-verification-small", "small", args.seconds)]
    if os.path.exists(os.path.join(MODELS, "voice-verification", "1", "model.onnx")):
        workloads.append(("voice-verification", "full", args.seconds * 2))
    if args.only:
        workloads = [w for w in workloads if w[1] == args.only]
    started = time.time()
    load_before = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="peregrine_batching_bench_")
    try:
        measured = [measure_model(args, tmp, model, variant, seconds) for model, variant, seconds in workloads]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    md = markdown(args, measured, started, load_before, os.getloadavg()[0])
    if not args.no_docs:
        docs_section.replace_section("batching_compare", md)
        print("wrote docs/benchmarks.md (batching_compare section)", file=sys.stderr)
    print(md)


if __name__ == "__main__":
    main()
