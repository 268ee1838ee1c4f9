"""Dynamic batching under load: `peregrine serve` with the dynamic batcher off and on, and a Node.js HTTP
server on onnxruntime-node as the peer, for the voice-verification models at concurrency 1, 4, 16 and 64;
writes the `batching_compare` section of docs/benchmarks.md.

    /usr/bin/python3 bench/batching_compare.py [--rounds 3] [--seconds 6] [--bin PATH] [--only small] [--no-docs]
    /usr/bin/python3 bench/batching_compare.py --quick --no-docs   # smoke run: 1 round, short windows, small model

Every server runs for the whole of one model's measurements, each on its own port; the load generator is
`peregrine bench` in closed loop (one I/O thread, N keep-alive connections each with one request outstanding,
`--request-file` with the same KServe V2 JSON body: one [1, 1, 40, 241] MFCC-like row). Each round visits
every (server, concurrency) cell once, in a fresh shuffled order: warm-up load, then three measurement
windows of a third of the measured time each (fixed: every cell takes the same time, whether or not its
windows agree). Latency is from send to complete response. Figures are medians over rounds; failed
requests (non-2xx, timeouts, connection errors, warm-up included) are summed over all rounds and must be zero.

Peregrine configurations are the model's own config.pbtxt (examples/models/...: dynamic batching on,
one instance whose intra-op threads are cores / instances) and variants of it written to a temporary
repository: the dynamic_batching block removed ("off"), two instances ("2 inst") for the
instances-by-threads trade-off, and bfloat16 compute ("bf16": the precision parameter, docs/precision.md;
results within bfloat16's rounding of float32's, not equal to them). The peer is bench/ort_server.mjs at three settings: 1 process x 1 ORT
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

WINDOWS = 3  # measurement windows per cell, all of them used
REQUEST_TIMEOUT_S = 60


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


def variant_config(text, batching, instances, precision):
    if precision != "fp32":
        text += f'parameters {{ key: "precision" value: {{ string_value: "{precision}" }} }}\n'
    if not batching:
        text, n = re.subn(r"\ndynamic_batching \{.*?\n\}\n", "\n", text, flags=re.S)
        assert n == 1, "config has no dynamic_batching block"
    text, n = re.subn(r"instance_group \[ \{ count: 1 kind: KIND_CPU \} \]",
                      f"instance_group [ {{ count: {instances} kind: KIND_CPU }} ]", text)
    assert n == 1, "config has no single-instance instance_group"
    return text


def peregrine_server(args, tmp, model, label, batching, instances, precision="fp32"):
    repo = os.path.join(tmp, label.replace(" ", "_"))
    os.makedirs(os.path.join(repo, model, "1"))
    os.symlink(os.path.join(MODELS, model, "1", "model.onnx"), os.path.join(repo, model, "1", "model.onnx"))
    with open(os.path.join(MODELS, model, "config.pbtxt")) as f:
        config = variant_config(f.read(), batching, instances, precision)
    with open(os.path.join(repo, model, "config.pbtxt"), "w") as f:
        f.write(config)
    port_file = os.path.join(tmp, label.replace(" ", "_") + ".port")
    argv = [args.bin, "serve", "--model-repository", repo, "--http-address", "127.0.0.1", "--http-port", "0",
            "--port-file", port_file]
    setting = f"{instances} inst, batching {'on' if batching else 'off'}" + ("" if precision == "fp32" else f", {precision}")
    return Server(label, "peregrine", setting, argv, port_file)


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
    return body_path, os.path.getsize(body_path)


def load(args, server, model, body_path, concurrency, timing, out_json):
    """One cell: `peregrine bench` at one concurrency, fixed warm-up and windows. Returns its figures; the
    failures counted are those of the whole invocation (warm-up and the drain at the end included)."""
    warmup_ms, window_ms = timing
    argv = [args.bin, "bench", server.url, "--model", model, "--concurrency", str(concurrency),
            "--request-file", body_path, "--warmup", f"{warmup_ms}ms", "--window", f"{window_ms}ms",
            "--max-windows", str(WINDOWS), "--stable-windows", str(WINDOWS), "--timeout", f"{REQUEST_TIMEOUT_S}s",
            "--quiet", "--json", out_json]
    if server.kind != "peregrine":
        argv.append("--no-server-stats")  # the peer has no statistics endpoint
    limit_s = (warmup_ms + WINDOWS * window_ms) / 1000 + REQUEST_TIMEOUT_S + 60
    out = subprocess.run(argv, capture_output=True, text=True, timeout=limit_s)
    # Exit 3: no request succeeded; the JSON is written and its failures count against the target.
    if out.returncode not in (0, 3) or not os.path.exists(out_json):
        raise SystemExit(f"peregrine bench failed (exit code {out.returncode}):\n{out.stdout}\n{out.stderr}")
    with open(out_json) as f:
        result = json.load(f)
    os.remove(out_json)
    level, totals = result["levels"][0], result["totals"]
    if level["requests"]["success"] == 0:
        raise SystemExit(f"no request succeeded against {server.label} at c={concurrency}:\n{out.stdout}")
    return {"rps": level["throughput"], "p50": level["latency_us"]["p50"] / 1e3,
            "p99": level["latency_us"]["p99"] / 1e3, "stable": level["stable"],
            "failed": totals["requests"]["errors"], "errors": totals["errors"],
            "requests": totals["requests"]["success"] + totals["requests"]["errors"],
            "successes": totals["requests"]["success"], "server": level["server"]}


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


def measure_model(args, tmp, model, variant, timing):
    tmp = os.path.join(tmp, variant)  # its own repositories and port files
    os.makedirs(tmp)
    body_path, body_bytes = write_body(tmp, model, variant)
    out_json = os.path.join(tmp, "bench.json")
    servers = [peregrine_server(args, tmp, model, "Peregrine batching off", False, 1),
               peregrine_server(args, tmp, model, "Peregrine batching on", True, 1)]
    if variant == "small":
        servers += [peregrine_server(args, tmp, model, "Peregrine batching off 2 inst", False, 2),
                    peregrine_server(args, tmp, model, "Peregrine batching on 2 inst", True, 2)]
    if args.bf16:
        servers.append(peregrine_server(args, tmp, model, "Peregrine batching on bf16", True, 1, "bf16"))
    servers += [peer_server(tmp, model, 1, 1), peer_server(tmp, model, 2, 1), peer_server(tmp, model, 1, 2)]
    results = {}
    try:
        for s in servers:
            s.start()
        cells = [(s, c) for s in servers for c in CONCURRENCY]
        for r in range(args.rounds):
            random.Random(r).shuffle(cells)
            for s, c in cells:
                # CPU over the whole invocation: its warm-up runs at the same concurrency.
                cpu_before = cpu_seconds(s.proc.pid)
                res = load(args, s, model, body_path, c, timing, out_json)
                res["cpu_ms"] = (cpu_seconds(s.proc.pid) - cpu_before) * 1000 / max(1, res["successes"])
                server = res["server"]  # the server's statistics over the measured windows (Peregrine only)
                if server and server.get("executions"):
                    res["rows_per_call"] = server["requests"] / server["executions"]
                results.setdefault((s.label, c), []).append(res)
                rows = f", {res['rows_per_call']:.2f} rows/call" if "rows_per_call" in res else ""
                print(f"{model} round {r + 1}/{args.rounds} {s.label} c={c}: {res['rps']:.0f} inf/s, "
                      f"p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms{rows}, server CPU {res['cpu_ms']:.3f} "
                      f"ms/inference, failed {res['failed']}{'' if res['stable'] else ', windows disagree'}",
                      file=sys.stderr)
    finally:
        for s in servers:
            s.stop()
    summary = {}
    for (label, c), runs in results.items():
        summary[f"{label}|{c}"] = {
            "rps": statistics.median(x["rps"] for x in runs), "p50": statistics.median(x["p50"] for x in runs),
            "p99": statistics.median(x["p99"] for x in runs), "failed": sum(x["failed"] for x in runs),
            "cpu_ms": statistics.median(x["cpu_ms"] for x in runs),
            "requests": sum(x["requests"] for x in runs), "unstable": sum(not x["stable"] for x in runs),
            "rows_per_call": (statistics.median(x["rows_per_call"] for x in runs)
                              if "rows_per_call" in runs[0] else None),
            "runs": runs}
    return {"model": model, "variant": variant, "body_bytes": body_bytes, "warmup_ms": timing[0],
            "window_ms": timing[1], "windows": WINDOWS, "rounds": args.rounds,
            "threads": len(os.sched_getaffinity(0)), "labels": [s.label for s in servers],
            "settings": {s.label: s.setting for s in servers}, "kinds": {s.label: s.kind for s in servers},
            "cells": summary}


def cell(m, label, c):
    return m["cells"][f"{label}|{c}"]


def peak(m, label):
    return max(cell(m, label, c)["rps"] for c in CONCURRENCY)


def peak_at(m, label):
    return max(CONCURRENCY, key=lambda c: cell(m, label, c)["rps"])


def best(m, kind, bf16=False):
    """The highest-peak setting of `kind`; among float32 settings unless `bf16`."""
    return max((label for label in m["labels"] if m["kinds"][label] == kind and ("bf16" in label) == bf16),
               key=lambda label: peak(m, label))


def ratio_list(m, a, b):
    return ", ".join(f"c={c} {cell(m, a, c)['rps'] / cell(m, b, c)['rps']:.2f}×" for c in CONCURRENCY if c >= 16)


def markdown(run):
    off, on = "Peregrine batching off", "Peregrine batching on"
    measured = run["measured"]
    lines = ["## Dynamic batching under load: Peregrine vs a Node.js server on onnxruntime-node", "",
             f"Written by `{run['command']}` on {run['date']} ({run['minutes']:.1f} min). Machine: {run['cores']} "
             f"shared cores; load average {run['load_before']:.1f} at the start, {run['load_after']:.1f} at the end "
             "(1-minute), other work running beside it - read throughput with that in mind; the CPU time per "
             "inference below is the steadier figure. Regenerate it with that command; do not edit by hand.", "",
             "Per cell: " + "; ".join(f"{m['model']} {m['warmup_ms'] / 1000:g} s warm-up + {m['windows']} × "
                                       f"{m['window_ms'] / 1000:g} s measured" for m in measured)
             + f"; {measured[0]['rounds']} round(s), medians over rounds.", "",
             "### Targets", ""]
    total_failed = sum(v["failed"] for m in measured for v in m["cells"].values())
    for m in measured:
        if m["variant"] != "small":
            continue
        met = all(cell(m, on, c)["rps"] >= 1.2 * cell(m, off, c)["rps"] for c in CONCURRENCY if c >= 16)
        line = (f"- {m['model']}: throughput with batching ≥ 1.2× without at concurrency ≥ 16, with the model's "
                f"config (one instance, {m['threads']} intra-op threads here): **{'met' if met else 'missed'}** "
                f"({ratio_list(m, on, off)}).")
        if f"{on} 2 inst|16" in m["cells"]:
            line += (f" With two instances × one thread instead: {ratio_list(m, on + ' 2 inst', off + ' 2 inst')} "
                     "(see the trade-off below).")
        lines.append(line)
    for m in measured:
        mine, peer = best(m, "peregrine"), best(m, "peer")
        ratio = peak(m, mine) / peak(m, peer)
        line = (f"- {m['model']}: Peregrine's peak throughput ≥ 1.5× the peer's, each at its best setting, both in "
                f"float32: **{'met' if ratio >= 1.5 else 'missed'}** ({ratio:.2f}×: Peregrine {peak(m, mine):,.0f} "
                f"inferences/s, {m['settings'][mine]}, c={peak_at(m, mine)}; peer {peak(m, peer):,.0f}, "
                f"{m['settings'][peer]}, c={peak_at(m, peer)}). The model's own config peaks at "
                f"{peak(m, on):,.0f} ({peak(m, on) / peak(m, peer):.2f}× the peer's best).")
        if any("bf16" in label for label in m["labels"]):
            mine16 = best(m, "peregrine", bf16=True)
            ratio16 = peak(m, mine16) / peak(m, peer)
            line += (f" With bfloat16 compute (Peregrine's precision parameter; the peer has no such option on "
                     f"CPU): **{'met' if ratio16 >= 1.5 else 'missed'}** ({ratio16:.2f}×: {peak(m, mine16):,.0f} "
                     f"inferences/s, {m['settings'][mine16]}, c={peak_at(m, mine16)}).")
        lines.append(line)
    lines.append(f"- Zero failed requests at every level: **{'met' if total_failed == 0 else 'missed'}** "
                 f"({total_failed} failed of {sum(v['requests'] for m in measured for v in m['cells'].values()):,}).")
    runs = sum(len(v["runs"]) for m in measured for v in m["cells"].values())
    unstable = sum(v["unstable"] for m in measured for v in m["cells"].values())
    lines += ["", f"Stability: in {unstable} of {runs} measured cells the windows disagreed by more than 10% "
              "(throughput or p50), as `peregrine bench` judges it; every cell's figures pool all its windows."]
    for m in measured:
        peer = best(m, "peer")
        lines += ["", f"### {m['model']} (one {m['body_bytes']:,}-byte JSON request = one row)", "",
                  "Peregrine with the model's config (one instance), its `dynamic_batching` block removed (off) and "
                  f"as written (on); the peer at its best setting ({m['settings'][peer]}).", "",
                  "| concurrency | batching off inf/s | p50 ms | p99 ms | batching on inf/s | p50 ms | p99 ms | "
                  "rows per engine call | on ÷ off | peer inf/s | p50 ms | p99 ms | on ÷ peer |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in CONCURRENCY:
            a, b, p = cell(m, off, c), cell(m, on, c), cell(m, peer, c)
            lines.append(f"| {c} | {a['rps']:,.0f} | {a['p50']:.2f} | {a['p99']:.2f} | {b['rps']:,.0f} | "
                         f"{b['p50']:.2f} | {b['p99']:.2f} | {b['rows_per_call']:.2f} | {b['rps'] / a['rps']:.2f}× | "
                         f"{p['rps']:,.0f} | {p['p50']:.2f} | {p['p99']:.2f} | {b['rps'] / p['rps']:.2f}× |")
        lines += ["", "Every setting: inferences/s, and the server's CPU time per inference (user + system, all its "
                  "threads and processes; median over concurrency levels and rounds), which other load on the machine "
                  "disturbs much less than throughput:", "",
                  "| server | setting | " + " | ".join(f"c={c}" for c in CONCURRENCY)
                  + " | rows per engine call, c=" + "/".join(str(c) for c in CONCURRENCY)
                  + " | CPU ms/inference | failed |",
                  "|---|---|" + "---:|" * (len(CONCURRENCY) + 3)]
        for label in m["labels"]:
            cpu = statistics.median(cell(m, label, c)["cpu_ms"] for c in CONCURRENCY)
            rows = ("-" if m["kinds"][label] != "peregrine"
                    else " / ".join(f"{cell(m, label, c)['rows_per_call']:.2f}" for c in CONCURRENCY))
            lines.append(f"| {label} | {m['settings'][label]} | "
                         + " | ".join(f"{cell(m, label, c)['rps']:,.0f}" for c in CONCURRENCY)
                         + f" | {rows} | {cpu:.3f} | {sum(cell(m, label, c)['failed'] for c in CONCURRENCY)} |")
    lines += ["", "Method: " + " ".join(__doc__.split("\n\n", 2)[2].split()),
              "`rows per engine call` comes from the server's statistics as `peregrine bench` reads them around "
              "the measured windows (inferences ÷ engine executions). Peregrine's threads per instance are derived (cores ÷ instances), so on this machine "
              "\"1 inst\" is one instance × 2 threads and \"2 inst\" two instances × 1 thread: the trade-off "
              "described in docs/model_config.md (Instances and threads)."]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=6, help="measured seconds per cell (x2 for the full model)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "release", "src", "cli", "peregrine"))
    ap.add_argument("--only", choices=["small", "full"])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: one round, 1 s warm-up and 1 s windows, the small model only")
    ap.add_argument("--results", help="raw results are written here (default bench/.cache/batching_compare.json, "
                    "batching_compare_quick.json with --quick)")
    ap.add_argument("--render", action="store_true", help="only rewrite the docs section from --results")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false",
                    help="leave out the bfloat16 server (Peregrine batching on bf16)")
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    if args.results is None:
        args.results = os.path.join(BENCH, ".cache", f"batching_compare{'_quick' if args.quick else ''}.json")
    if args.quick:
        args.rounds, args.only = 1, "small"
    if args.render:
        with open(args.results) as f:
            run = json.load(f)
    else:
        if not os.access(args.bin, os.X_OK):
            raise SystemExit(f"no peregrine CLI at {args.bin} (build it: cmake --build --preset release)")
        if not os.path.isdir(os.path.join(BENCH, "node_modules", "onnxruntime-node")):
            print("installing onnxruntime-node (npm ci --ignore-scripts) ...", file=sys.stderr)
            subprocess.run(["npm", "ci", "--ignore-scripts"], cwd=BENCH, check=True)
        # (warm-up ms, window ms) per cell: the full model's windows are twice as long (fewer, slower requests).
        timing = (1000, 1000) if args.quick else (2000, args.seconds * 1000 // WINDOWS)
        workloads = [("voice-verification-small", "small", timing)]
        if os.path.exists(os.path.join(MODELS, "voice-verification", "1", "model.onnx")):
            workloads.append(("voice-verification", "full", (timing[0], timing[1] * 2)))
        if args.only:
            workloads = [w for w in workloads if w[1] == args.only]
        started = time.time()
        load_before = os.getloadavg()[0]
        tmp = tempfile.mkdtemp(prefix="peregrine_batching_bench_")
        try:
            measured = [measure_model(args, tmp, model, variant, timing) for model, variant, timing in workloads]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        command = "/usr/bin/python3 bench/batching_compare.py " + (
            "--quick" if args.quick else f"--rounds {args.rounds} --seconds {args.seconds}"
            + (f" --only {args.only}" if args.only else "") + ("" if args.bf16 else " --no-bf16"))
        run = {"command": command,
               "date": time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(started)),
               "minutes": (time.time() - started) / 60, "cores": len(os.sched_getaffinity(0)), "load_before": load_before,
               "load_after": os.getloadavg()[0], "measured": measured}
        os.makedirs(os.path.dirname(args.results), exist_ok=True)
        with open(args.results, "w") as f:
            json.dump(run, f, indent=1)
    md = markdown(run)
    if not args.no_docs:
        docs_section.replace_section("batching_compare", md)
        print("wrote docs/benchmarks.md (batching_compare section)", file=sys.stderr)
    print(md)


if __name__ == "__main__":
    main()
