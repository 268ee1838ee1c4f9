"""Served text generation: Peregrine vs the seed's Flask + PyTorch services vs Node.js + onnxruntime-node,
the same request under Apache Bench and `peregrine bench`; writes the `generate_compare` section of
docs/benchmarks.md.

    /usr/bin/python3 bench/generate_compare.py [--rounds 3] [--window 2] [--servers a,b,c,d,e,f] [--no-docs]
    /usr/bin/python3 bench/generate_compare.py --report-only     # re-render the last run's results

The request: POST /v2/models/textgen-lstm/generate {"text_input": "Movie is great.", "parameters":
{"max_tokens": 20}}, greedy, answered with {"text_output": ...}. Servers (all on 127.0.0.1, any free port,
started and stopped by this script, each with 1 intra-op thread unless --threads says otherwise):
  a  flask-eager   Flask + PyTorch eager       bench/generate_peers/flask_app.py --mode eager
  b  flask-script  Flask + TorchScript         bench/generate_peers/flask_app.py --mode script
  c  node-ort      node:http + onnxruntime-node bench/generate_peers/ort_server.mjs
  d  peregrine     build/release/src/cli/peregrine serve --model-repository examples/models --busy-poll-us 2000
  e  peregrine-idle the same without --busy-poll-us (its threads sleep as soon as they are idle): latency only
  f  peregrine-bf16 (d) with the model's precision parameter set to bf16 (docs/precision.md), from a
                    temporary copy of its repository entry; where the CPU lacks native bfloat16 it runs float32
Every server must return the greedy text of examples/textgen-lstm/reference/greedy.json (PyTorch's);
a mismatch is reported loudly and makes the script exit 1 after writing its report.

Each round runs, in a fresh shuffled order: for every server `ab -n 200 -c 1` and `ab -n 200 -c 1 -k`
(P50/P90 from ab's -e percentile table, microsecond resolution), and for (c), (d) and (f)
`peregrine bench URL -m textgen-lstm --generate PROMPT --max-tokens 20 -c N` at N = 1, 8, 32 (closed loop,
keep-alive; windows of --window seconds until throughput and p50 agree; generated tokens/s = 20 x its
successful responses per second; every response must be a 200). Before the rounds, 32 concurrent clients x
4 requests must all get the reference text from (c), (d) and (f) as well. Figures are medians over rounds.
Needs ab (apache2-utils), Debian's python3-flask and python3-torch, node with bench/node_modules (`npm ci
--ignore-scripts`, run here when missing) and, for (c), (d), (e) and (f), the release build of the peregrine CLI.
"""
import argparse
import concurrent.futures
import csv
import json
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import docs_section
import report

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PEERS = os.path.join(BENCH, "generate_peers")
PEREGRINE = os.path.join(ROOT, "build", "release", "src", "cli", "peregrine")
MODELS = os.path.join(ROOT, "examples", "models")
REFERENCE = os.path.join(ROOT, "examples", "textgen-lstm", "reference", "greedy.json")
RESULTS = os.path.join(BENCH, ".cache", "generate_compare.json")
PYTHON = "/usr/bin/python3"  # Debian's interpreter, the one with torch and flask
MODEL, PROMPT, MAX_TOKENS = "textgen-lstm", "Movie is great.", 20
PATH = f"/v2/models/{MODEL}/generate"
# (d)'s --busy-poll-us: longer than one generation, so that neither the step thread nor the I/O thread
# sleeps between a request and its response (docs/serving.md, Busy polling).
BUSY_POLL_US = 2000
SERVERS = {  # key -> label; the order of the tables
    "flask-eager": "(a) Flask + PyTorch eager",
    "flask-script": "(b) Flask + TorchScript",
    "node-ort": "(c) Node.js + onnxruntime-node",
    "peregrine": "(d) Peregrine",
    "peregrine-idle": "(e) Peregrine without busy polling",
    "peregrine-bf16": "(f) Peregrine, bf16 precision",
}
LETTERS = dict(zip("abcdef", SERVERS))
THROUGHPUT_SERVERS = ("node-ort", "peregrine", "peregrine-bf16")
PEREGRINE_SERVERS = ("peregrine", "peregrine-bf16")  # the ones the targets are stated for
CONCURRENCY = (1, 8, 32)
LATENCY_REQUESTS = 200
BENCH_WARMUP_S, BENCH_STABLE_WINDOWS, BENCH_MAX_WINDOWS = 1, 3, 5  # peregrine bench, per throughput level
START_TIMEOUT_S = 180
# Targets of issue 5.
P90_VS_NODE, P90_VS_FLASK, SCALING_32_VS_1 = 0.5, 0.1, 4.0


# ---------------------------------------------------------------- servers

def bf16_repository(tmp):
    """A repository holding the example model with `precision: bf16` added to its config: the model a link to
    the original, the vocabulary a copy (the server reads no file through a link that leads out of the model's
    folder)."""
    src, repo = os.path.join(MODELS, MODEL), os.path.join(tmp, "repo_bf16")
    os.makedirs(os.path.join(repo, MODEL, "1"))
    os.symlink(os.path.join(src, "1", "model.onnx"), os.path.join(repo, MODEL, "1", "model.onnx"))
    shutil.copy2(os.path.join(src, "vocab.txt"), os.path.join(repo, MODEL, "vocab.txt"))
    with open(os.path.join(src, "config.pbtxt")) as f:
        config = f.read()
    with open(os.path.join(repo, MODEL, "config.pbtxt"), "w") as f:
        f.write(config + '\nparameters { key: "precision" value: { string_value: "bf16" } }\n')
    return repo


def server_argv(name, port_file, threads, peregrine):
    if name.startswith("flask-"):
        return [PYTHON, os.path.join(PEERS, "flask_app.py"), "--mode", name.split("-")[1],
                "--threads", str(threads), "--port-file", port_file]
    if name == "node-ort":
        return ["node", os.path.join(PEERS, "ort_server.mjs"), "--threads", str(threads), "--port-file", port_file]
    poll = ["--busy-poll-us", str(BUSY_POLL_US)] if name in PEREGRINE_SERVERS else []
    repo = bf16_repository(os.path.dirname(port_file)) if name == "peregrine-bf16" else MODELS
    return [peregrine, "serve", "--model-repository", repo, "--model-control-mode", "explicit", "--load-model", MODEL,
            "--threads-per-instance", str(threads), "--http-address", "127.0.0.1", "--http-port", "0",
            "--port-file", port_file] + poll


class Server:
    """One server process: started with a port file, stopped (always) by stop()."""

    def __init__(self, name, argv, tmp):
        self.name, self.argv = name, argv
        self.port_file = argv[argv.index("--port-file") + 1]
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = None

    def wait_ready(self, deadline):
        """Waits (bounded) for the port file, then for a first answer to the benchmark request."""
        while not os.path.exists(self.port_file):
            self.check_alive(deadline)
            time.sleep(0.1)
        self.base = f"http://127.0.0.1:{int(open(self.port_file).read())}"
        self.url = self.base + PATH
        while True:
            try:
                return generate_once(self.url)
            except urllib.error.HTTPError as e:
                why = e.read().decode(errors="replace")
                if e.code != 503 or "UNAVAILABLE" in why:  # 503 while loading; a failed load will not get better
                    raise RuntimeError(f"{self.name}: HTTP {e.code} {why}") from None
            except OSError:  # connection refused or reset
                pass
            self.check_alive(deadline)
            time.sleep(0.2)

    def check_alive(self, deadline):
        if self.proc.poll() is not None or time.monotonic() > deadline:
            tail = open(self.log_path).read()[-3000:]
            why = f"exited with {self.proc.returncode}" if self.proc.poll() is not None else "not ready in time"
            raise RuntimeError(f"{self.name} {why}: {shlex.join(self.argv)}\n{tail}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.log.close()


def generate_once(url):
    """POSTs the benchmark request once; returns the response's text_output."""
    body = json.dumps({"text_input": PROMPT, "parameters": {"max_tokens": MAX_TOKENS}}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)["text_output"]


def start_servers(names, tmp, threads, peregrine):
    """Starts all servers at once (they load in parallel), then waits for each; returns {name: Server}."""
    servers = {}
    try:
        for name in names:
            servers[name] = Server(name, server_argv(name, os.path.join(tmp, f"{name}.port"), threads, peregrine), tmp)
        deadline = time.monotonic() + START_TIMEOUT_S
        for s in servers.values():
            s.wait_ready(deadline)
            print(f"{s.name} ready at {s.url}", file=sys.stderr, flush=True)
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers):
    for s in servers.values():
        s.stop()


def concurrent_texts(url, clients, per_client):
    """`clients` simultaneous clients (so Peregrine steps them in one batch) `per_client` requests each;
    returns every text_output."""
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        jobs = [pool.submit(lambda: [generate_once(url) for _ in range(per_client)]) for _ in range(clients)]
        return [t for j in jobs for t in j.result()]


# ---------------------------------------------------------------- measurements

def run_ab(url, body, tmp, concurrency, keepalive, requests=None, seconds=None):
    """One ab run; returns its figures. Percentiles come from -e (ms with microsecond digits)."""
    csv_path = os.path.join(tmp, "ab.csv")
    argv = ["ab", "-q", "-s", "60", "-c", str(concurrency), "-e", csv_path, "-p", body, "-T", "application/json"]
    argv += ["-k"] if keepalive else []
    # -t first: it sets -n to 50000, which the explicit -n then raises (ab allocates -n result slots).
    argv += ["-t", str(seconds), "-n", "200000"] if seconds else ["-n", str(requests)]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=(seconds or 0) + 600)
    if out.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed:\n{out.stdout}{out.stderr}")
    text = out.stdout

    def field(label, default=None):
        m = re.search(rf"^{label}:\s+([0-9.]+)", text, re.M)
        if m is None and default is None:
            raise RuntimeError(f"ab printed no '{label}':\n{text}")
        return float(m.group(1)) if m else default

    with open(csv_path) as f:
        pct = {int(r[0]): float(r[1]) for r in list(csv.reader(f))[1:]}
    # ab counts a response whose length differs from the first one as failed ("Length"); Peregrine's carry
    # timings, so their lengths vary. Only connection, receive and other errors count here (texts: concurrent_texts).
    kinds = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", text)
    connect, receive, length, exceptions = map(int, kinds.groups()) if kinds else (0, 0, 0, 0)
    return {"complete": int(field("Complete requests")), "failed": connect + receive + exceptions,
            "length_varied": length,
            "non2xx": int(field("Non-2xx responses", 0)), "keepalive": int(field("Keep-Alive requests", 0)),
            "time_s": field("Time taken for tests"), "p50_ms": pct[50], "p90_ms": pct[90], "p99_ms": pct[99],
            "argv": shlex.join({csv_path: "p.csv", body: "body.json"}.get(a, a) for a in argv)}


def run_bench(peregrine, base, tmp, concurrency, window):
    """One `peregrine bench` level (closed loop); returns its figures in run_ab's terms."""
    json_path = os.path.join(tmp, "bench.json")
    argv = [peregrine, "bench", base, "-m", MODEL, "--generate", PROMPT, "--max-tokens", str(MAX_TOKENS),
            "-c", str(concurrency), "--warmup", f"{BENCH_WARMUP_S}s", "--window", f"{window}s",
            "--stable-windows", str(BENCH_STABLE_WINDOWS), "--max-windows", str(BENCH_MAX_WINDOWS),
            "--no-server-stats", "-q"]
    shown = shlex.join(["peregrine"] + argv[1:]).replace(base, "http://127.0.0.1:PORT")
    argv += ["--json", json_path]
    limit = BENCH_WARMUP_S + window * BENCH_MAX_WINDOWS + 120
    out = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
    if out.returncode not in (0, 3):  # 3: no request succeeded; its failures are counted below
        raise RuntimeError(f"{shlex.join(argv)} failed:\n{out.stdout}{out.stderr}")
    with open(json_path) as f:
        level = json.load(f)["levels"][0]
    req, lat = level["requests"], level["latency_us"]
    non2xx = req["responses"] - req["success"]
    return {"complete": req["success"], "failed": req["errors"] - non2xx, "non2xx": non2xx, "length_varied": 0,
            "keepalive": req["success"], "time_s": level["duration_s"], "throughput": level["throughput"],
            "stable": level["stable"], "p50_ms": lat["p50"] / 1e3, "p90_ms": lat["p90"] / 1e3,
            "p99_ms": lat["p99"] / 1e3, "argv": shown}


def tasks(names):
    """Every measurement of one round: (server, kind, concurrency)."""
    out = [(n, kind, 1) for n in names for kind in ("close", "keepalive")]
    out += [(n, "throughput", c) for n in names if n in THROUGHPUT_SERVERS for c in CONCURRENCY]
    return out


def measure(servers, body, tmp, rounds, window, peregrine):
    """Interleaved rounds; returns {"server/kind/c": [per-round figures]} (ab's, or peregrine bench's)."""
    samples = {}
    for r in range(rounds):
        order = tasks(servers)
        random.Random(r).shuffle(order)  # a different neighbour order every round, reproducibly
        for i, (name, kind, c) in enumerate(order):
            url = servers[name].url
            if kind == "throughput":
                res = run_bench(peregrine, servers[name].base, tmp, c, window)
            else:
                res = run_ab(url, body, tmp, 1, kind == "keepalive", requests=LATENCY_REQUESTS)
            samples.setdefault(f"{name}/{kind}/{c}", []).append(res)
            print(f"round {r + 1}/{rounds} [{i + 1}/{len(order)}] {name} {kind} c{c}: p50 {res['p50_ms']:.2f} ms, "
                  f"p90 {res['p90_ms']:.2f} ms, {req_per_s(res):.1f} req/s, "
                  f"bad {res['failed'] + res['non2xx']}", file=sys.stderr, flush=True)
    return samples


def req_per_s(res):
    """Successful requests per second: peregrine bench's throughput, or ab's completed requests over its time."""
    return res["throughput"] if "throughput" in res else res["complete"] / res["time_s"]


def warm_up(servers, body, tmp):
    """A short ab burst per server and concurrency: connection set-up paths, allocator, caches."""
    for name, s in servers.items():
        run_ab(s.url, body, tmp, 1, False, requests=20)
        if name in THROUGHPUT_SERVERS:
            run_ab(s.url, body, tmp, CONCURRENCY[-1], True, requests=200)


# ---------------------------------------------------------------- report

def summarize(samples):
    """{key: median figures over rounds}; tokens/s uses the reference's token count."""
    med = statistics.median
    tokens = len(reference()["generated_token_ids"])
    out = {}
    for key, runs in samples.items():
        out[key] = {"p50_ms": med(r["p50_ms"] for r in runs), "p90_ms": med(r["p90_ms"] for r in runs),
                    "p90_lo": min(r["p90_ms"] for r in runs), "p90_hi": max(r["p90_ms"] for r in runs),
                    "tok_s": med(req_per_s(r) * tokens for r in runs),
                    "bad": sum(r["failed"] + r["non2xx"] for r in runs),
                    "keepalive": sum(r["keepalive"] for r in runs), "argv": runs[0]["argv"]}
    return out


def reference():
    with open(REFERENCE) as f:
        return json.load(f)


def verdict(ok):
    return "met" if ok else "missed"


def p90_target_line(stats, me, other, limit):
    parts, oks = [], []
    for kind, label in (("close", "`ab -c 1`"), ("keepalive", "`ab -c 1 -k`")):
        mine, theirs = stats.get(f"{me}/{kind}/1"), stats.get(f"{other}/{kind}/1")
        if mine and theirs:
            oks.append(mine["p90_ms"] <= limit * theirs["p90_ms"])
            parts.append(f"{label}: {mine['p90_ms']:.2f} ms vs {theirs['p90_ms']:.2f} ms = "
                         f"{mine['p90_ms'] / theirs['p90_ms']:.3f}×")
    head = f"- {SERVERS[me]}: P90 ≤ {limit}× of {SERVERS[other]}"
    return f"{head}: **{verdict(all(oks))}** ({'; '.join(parts)})." if oks else f"{head}: **not measured**."


def scaling_target_line(stats, me):
    head = f"- {SERVERS[me]}: tokens/s at concurrency {CONCURRENCY[-1]} ≥ {SCALING_32_VS_1:.0f}× its own at 1"
    one, many = stats.get(f"{me}/throughput/1"), stats.get(f"{me}/throughput/{CONCURRENCY[-1]}")
    if not (one and many):
        return f"{head}: **not measured**."
    ratio = many["tok_s"] / one["tok_s"]
    return (f"{head}: **{verdict(ratio >= SCALING_32_VS_1)}** "
            f"({many['tok_s']:,.0f} vs {one['tok_s']:,.0f} tokens/s = {ratio:.2f}×).")


def target_lines(stats, names):
    lines = []
    for me in (n for n in PEREGRINE_SERVERS if n in names):
        lines += [p90_target_line(stats, me, "node-ort", P90_VS_NODE),
                  p90_target_line(stats, me, "flask-eager", P90_VS_FLASK), scaling_target_line(stats, me)]
    return lines or ["- Not measured: neither (d) nor (f) ran."]


def latency_table(stats, names):
    rows = ["| server | P50 ms | P90 ms | P90 range over rounds | P50 ms, `-k` | P90 ms, `-k` | keep-alive reused |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for n in names:
        c, k = stats[f"{n}/close/1"], stats[f"{n}/keepalive/1"]
        reused = "yes" if k["keepalive"] else "no (server closes)"
        rows.append(f"| {SERVERS[n]} | {c['p50_ms']:.2f} | **{c['p90_ms']:.2f}** | "
                    f"{c['p90_lo']:.2f}–{c['p90_hi']:.2f} | {k['p50_ms']:.2f} | **{k['p90_ms']:.2f}** | {reused} |")
    return rows


def throughput_table(stats, names):
    top = CONCURRENCY[-1]
    rows = ["| server | " + " | ".join(f"tokens/s at {c}" for c in CONCURRENCY) +
            f" | {top} ÷ 1 | P50 ms at {top} | non-200 or failed |",
            "|---|" + "---:|" * (len(CONCURRENCY) + 3)]
    for n in names:
        if n not in THROUGHPUT_SERVERS:
            continue
        cells = [stats[f"{n}/throughput/{c}"] for c in CONCURRENCY]
        rows.append(f"| {SERVERS[n]} | " + " | ".join(f"{x['tok_s']:,.0f}" for x in cells) +
                    f" | {cells[-1]['tok_s'] / cells[0]['tok_s']:.2f}× | {cells[-1]['p50_ms']:.1f} | "
                    f"{sum(x['bad'] for x in cells)} |")
    return rows


def agreement_lines(results):
    ref = reference()
    expected = ref["generated_text"]
    lines = [f"Reference (PyTorch, `examples/textgen-lstm/reference/greedy.json`, "
             f"{len(ref['generated_token_ids'])} tokens): \"{expected}\"", ""]
    for n, text in results["outputs"].items():
        line = f"- {SERVERS[n]}: " + ("same text" if text == expected else f"**MISMATCH**: {json.dumps(text)}")
        if n in results["concurrent"]:
            c = results["concurrent"][n]
            wrong = [t for t in c["texts"] if t != expected]
            line += f"; {len(c['texts'])} requests from {c['clients']} concurrent clients: "
            line += f"**{len(wrong)} MISMATCHES**, e.g. {json.dumps(wrong[0])}" if wrong else "all the same text"
        lines.append(line)
    bad, total = bad_responses(results["samples"])
    shown = f"**{bad}**" if bad else "0"
    lines.append(f"- Non-200 or failed responses over all ab and `peregrine bench` runs: {shown} of {total:,}.")
    return lines


def bad_responses(samples):
    """(non-200 or failed responses, all responses) over every ab run."""
    runs = [r for rs in samples.values() for r in rs]
    return sum(r["failed"] + r["non2xx"] for r in runs), sum(r["complete"] for r in runs)


def render(results):
    stats, names = summarize(results["samples"]), results["servers"]
    rounds = results["rounds"]
    missing = [label for n, label in SERVERS.items() if n not in names]
    request = json.dumps({"text_input": PROMPT, "parameters": {"max_tokens": MAX_TOKENS}})
    return "\n".join([
        "## Served generation: Peregrine vs Flask + PyTorch vs Node.js + onnxruntime-node",
        "",
        f"Written by `{results['command']}` on {results['started']} ({rounds} interleaved "
        f"round{'s' if rounds != 1 else ''}, {results['elapsed_s'] / 60:.1f} min). "
        "Regenerate it with that command; do not edit by hand.",
        "",
        f"The request: `POST {PATH}` with `{request}` — {MAX_TOKENS} greedy words after the seed's prompt, "
        "the whole request of seed 000.",
        "",
        "### Targets",
        "",
        *target_lines(stats, names),
        *(["", f"Not measured in this run: {', '.join(missing)}."] if missing else []),
        "",
        f"### Latency, one client: `ab -n {LATENCY_REQUESTS} -c 1` and `-k`",
        "",
        "Medians over rounds of each round's percentile, from ab's `-e` table (microsecond resolution).",
        "",
        *latency_table(stats, names),
        "",
        "### Throughput: generated tokens per second, `peregrine bench -c N`",
        "",
        f"Closed loop with N keep-alive connections, {BENCH_WARMUP_S} s warm-up, then windows of "
        f"{results['window']} s until {BENCH_STABLE_WINDOWS} in a row agree within 10% (at most "
        f"{BENCH_MAX_WINDOWS}); tokens/s = {MAX_TOKENS} × successful responses per second. Medians over rounds.",
        "",
        *throughput_table(stats, names),
        "",
        "### Output agreement",
        "",
        *agreement_lines(results),
        "",
        "### Setup",
        "",
        *setup_lines(results, stats),
    ])


def setup_lines(results, stats):
    info, names, threads = results["info"], results["servers"], results["threads"]
    load0, load1 = results["load_before"][0], results["load_after"][0]
    example = stats[f"{names[0]}/close/1"]["argv"]
    bench_example = next((stats[f"{n}/throughput/{CONCURRENCY[-1]}"]["argv"] for n in names if n in THROUGHPUT_SERVERS),
                         "")
    return [
        f"- Machine: {info['cpu']}. Shared and noisy: load average {load0:.1f} at the start, {load1:.1f} at the end "
        "(1-minute). ab and `peregrine bench` run on the same 2 cores as the servers.",
        f"- Every server: 127.0.0.1, intra-op threads {threads}, model loaded and warmed up before the first "
        "request; the same trained model (`examples/textgen-lstm/checkpoint.pt`, exported to "
        "`examples/models/textgen-lstm/1/model.onnx`), tokenizer rules and greedy loop (prefill the prompt, "
        f"one step per new token, stop at `<eos>` or {MAX_TOKENS} tokens).",
        f"- (a) `bench/generate_peers/flask_app.py --mode eager`: Flask {info['flask']} on its built-in threaded "
        "server (werkzeug `make_server(threaded=True)`, what `app.run()` uses; per-request log off). The werkzeug "
        "server answers `Connection: close` to every request, so `-k` cannot reuse connections. PyTorch "
        f"{info['torch']} (Debian's python3-torch), `nn.Module` in eval mode under `torch.inference_mode()`, "
        "greedy loop in Python.",
        "- (b) `flask_app.py --mode script`: the same app; the step model `torch.jit.trace`d, the whole greedy "
        "loop `torch.jit.script`ed around it (the seed's `predict_all_steps`), then "
        "`torch.jit.optimize_for_inference` (freeze + PyTorch's CPU inference passes); tokenizer in Python.",
        f"- (c) `bench/generate_peers/ort_server.mjs`: plain `node:http` on Node {info['node']}, ONNX Runtime "
        f"{info['ort']} through the public `InferenceSession.run` (one awaited call per step; requests interleave "
        "between steps, no batching), session options as `bench/ort_runner.mjs` (sequential, graph optimization "
        "`all`).",
        f"- (d) {info['peregrine']}: `peregrine serve --model-repository examples/models --model-control-mode "
        f"explicit --load-model {MODEL} --threads-per-instance {threads} --busy-poll-us {BUSY_POLL_US}` (2 HTTP "
        "threads, the default; after each event its I/O and step threads keep polling for 2 ms before they "
        "sleep, so one request's response needs no wake-up); its decode loop steps concurrent generations "
        f"together, up to `max_sequences_per_step: {info['max_sequences_per_step']}` "
        f"(`examples/models/{MODEL}/config.pbtxt`).",
        "- (e) the same server without `--busy-poll-us` (the default: threads sleep as soon as they are idle), "
        "latency only.",
        "- (f) (d) with `parameters { key: \"precision\" value: { string_value: \"bf16\" } }` added to the "
        "model's config (a temporary copy of its repository entry): the LSTM layers and the output layer compute "
        "in bfloat16 with float32 accumulation and cell state (docs/precision.md); opt-in, because a greedy "
        "generation can differ from float32's where two tokens are nearly tied. This CPU "
        + ("has native bfloat16 (avx512_bf16 or amx_bf16)." if info.get("bf16_native") else
           "has no native bfloat16, so (f) ran in float32."),
        "- Method: all servers run for the whole benchmark; after a warm-up burst each, every round visits every "
        f"measurement once in a fresh shuffled order: per server `ab -n {LATENCY_REQUESTS} -c 1` and `-k`; for (c), "
        f"(d) and (f) `peregrine bench` (the same binary as (d), one I/O thread, on the same 2 cores) at N = "
        f"{', '.join(map(str, CONCURRENCY))}, e.g. `{bench_example}`; "
        "every response must be a 200 without connection errors (Peregrine's responses carry timings, so their "
        "lengths vary and ab's `Length` failures are not errors; the texts are checked before the rounds, under "
        f"{CONCURRENCY[-1]} concurrent clients too). Figures are medians over rounds. Example latency command: "
        f"`{example} http://127.0.0.1:PORT{PATH}` with the JSON body above in `body.json`.",
    ]


# ---------------------------------------------------------------- driver

def needs_cli(names):
    """Peregrine's CLI is the server of (d), (e) and (f) and the load generator of every throughput run."""
    return any(n.startswith("peregrine") or n in THROUGHPUT_SERVERS for n in names)


def preflight(names, peregrine):
    if not shutil.which("ab"):
        sys.exit("needs ab (Debian apache2-utils)")
    if any(n.startswith("flask-") for n in names):
        if subprocess.run([PYTHON, "-c", "import flask, torch"], capture_output=True).returncode != 0:
            sys.exit("needs Debian's python3-flask and python3-torch for /usr/bin/python3")
    if "node-ort" in names and not os.path.isdir(os.path.join(BENCH, "node_modules", "onnxruntime-node")):
        print("installing onnxruntime-node (npm ci --ignore-scripts) ...", file=sys.stderr)
        subprocess.run(["npm", "ci", "--ignore-scripts"], cwd=BENCH, check=True)
    if needs_cli(names) and not os.access(peregrine, os.X_OK):
        sys.exit(f"missing {os.path.relpath(peregrine, ROOT)} (servers (d) to (f) and the `peregrine bench` load generator); "
                 "build: cmake --preset release && cmake --build --preset release --target peregrine -j2   "
                 "(or leave out c to f: --servers a,b)")


def snapshot(peregrine, tmp):
    """Copies the CLI: others may rebuild build/release during a run; every figure must come from one binary."""
    copy = os.path.join(tmp, "peregrine")
    shutil.copy2(peregrine, copy)
    return copy


def versions(peregrine, original_path):
    # Its Peregrine fields are not used; it needs an existing file for them all the same.
    info = report.machine_and_versions(peregrine if os.path.exists(peregrine) else "/bin/false")
    flask = subprocess.run([PYTHON, "-c", "import importlib.metadata as m; print(m.version('flask'))"],
                           capture_output=True, text=True).stdout.strip() or "?"
    exists = os.path.exists(peregrine)
    built = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(os.path.getmtime(peregrine))) if exists else "?"
    peregrine_version = report.sh([peregrine, "--version"]) if exists else "?"
    commit = report.sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = " plus uncommitted changes" if report.sh(["git", "-C", ROOT, "status", "--porcelain"]) else ""
    config = open(os.path.join(MODELS, MODEL, "config.pbtxt")).read()
    per_step = re.search(r"max_sequences_per_step:\s*(\d+)", config)
    with open("/proc/cpuinfo") as f:
        bf16_native = bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", f.read()))
    return {"cpu": info["cpu"], "bf16_native": bf16_native, "node": info["node"], "ort": info["ort"], "torch": info["torch"], "flask": flask,
            "max_sequences_per_step": per_step.group(1) if per_step else "?",
            "peregrine": f"`{peregrine_version}` (`{os.path.relpath(original_path, ROOT)}`, Release, -march=x86-64-v3, "
                         f"built {built} from the tree at commit {commit}{dirty})"}


def check_outputs(results):
    """Loud, not fatal: the run goes on so the report shows the numbers next to the mismatch."""
    expected = reference()["generated_text"]
    texts = {n: [t] + results["concurrent"].get(n, {}).get("texts", []) for n, t in results["outputs"].items()}
    bad = {n: [t for t in ts if t != expected] for n, ts in texts.items()}
    bad = {n: wrong for n, wrong in bad.items() if wrong}
    for n, wrong in bad.items():
        print(f"\n!!! OUTPUT MISMATCH: {SERVERS[n]} returned {wrong[0]!r} ({len(wrong)} of {len(texts[n])} responses)"
              f"\n!!! expected (PyTorch greedy) {expected!r}\n", file=sys.stderr, flush=True)
    return not bad


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=int, default=2, help="seconds per peregrine bench measurement window")
    ap.add_argument("--servers", default="a,b,c,d,e,f", help="which of a,b,c,d,e,f to run (default: all)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads of every server")
    ap.add_argument("--peregrine", default=PEREGRINE, help="peregrine CLI binary (copied before the run)")
    ap.add_argument("--no-docs", action="store_true", help="print the markdown instead of writing docs/benchmarks.md")
    ap.add_argument("--report-only", action="store_true",
                    help=f"re-render from the last run's {os.path.relpath(RESULTS, ROOT)}")
    args = ap.parse_args()
    try:
        args.names = [LETTERS[x.strip()] for x in args.servers.split(",")]
    except KeyError:
        ap.error("--servers takes letters among a,b,c,d,e,f")
    return args


def run(args):
    started, load_before = time.time(), os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="peregrine_generate_compare_")
    servers = {}
    try:
        peregrine = snapshot(args.peregrine, tmp) if needs_cli(args.names) else args.peregrine
        info = versions(peregrine, args.peregrine)  # of the snapshot, as it was when measured
        body = os.path.join(tmp, "body.json")
        with open(body, "w") as f:
            json.dump({"text_input": PROMPT, "parameters": {"max_tokens": MAX_TOKENS}}, f)
        servers = start_servers(args.names, tmp, args.threads, peregrine)
        texts = {"outputs": {n: generate_once(s.url) for n, s in servers.items()},
                 "concurrent": {n: {"clients": CONCURRENCY[-1], "texts": concurrent_texts(s.url, CONCURRENCY[-1], 4)}
                                for n, s in servers.items() if n in THROUGHPUT_SERVERS}}
        check_outputs(texts)
        warm_up(servers, body, tmp)
        samples = measure(servers, body, tmp, args.rounds, args.window, peregrine)
    finally:
        stop_servers(servers)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"samples": samples, **texts, "servers": args.names, "rounds": args.rounds,
            "window": args.window, "threads": args.threads, "info": info,
            "command": shlex.join(["/usr/bin/python3", "bench/generate_compare.py"] + sys.argv[1:]),
            "started": time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(started)),
            "elapsed_s": time.time() - started, "load_before": load_before, "load_after": os.getloadavg()}


def main():
    args = parse_args()
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the finally blocks stop every server.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    if args.report_only:
        with open(RESULTS) as f:
            results = json.load(f)
    else:
        preflight(args.names, args.peregrine)
        results = run(args)
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "w") as f:
            json.dump(results, f, indent=1)
    markdown = render(results)
    if args.no_docs:
        print(markdown)
    else:
        docs_section.replace_section("generate_compare", markdown)
        print(markdown)
        print("wrote docs/benchmarks.md (generate_compare section)", file=sys.stderr)
    bad, total = bad_responses(results["samples"])
    if bad:
        print(f"\n!!! {bad} of {total} responses were not 200 or failed (see the round lines above)\n", file=sys.stderr)
    if not check_outputs(results) or bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
