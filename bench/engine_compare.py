"""Peregrine vs ONNX Runtime (onnxruntime-node) vs PyTorch (eager, TorchScript) on the same models,
inputs and thread counts, interleaved and repeated; writes docs/benchmarks.md.

    /usr/bin/python3 bench/engine_compare.py [--rounds 5] [--quick] [--only resnet|generation]

Workloads: greedy 20-token generation after "Movie is great." with the textgen-lstm step model,
and the full voice-verification ResNet at batch 1 and 8; each at 1 and 2 threads.

Every round visits every (engine, workload, batch, threads) cell once, in a fresh shuffled order,
and times a short batch of iterations after warm-up; a cell's figure is the median over rounds of
its per-round medians, so a noisy neighbour spoils single rounds, not the result. ORT and PyTorch
run as long-lived workers (models loaded once); Peregrine runs its CLI per cell, as a user would.
"""
import argparse
import json
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import docs_section
import report

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
CACHE = os.path.join(BENCH, ".cache")
RESULTS = os.path.join(CACHE, "engine_compare.json")  # raw measurements of the last run
PEREGRINE = os.path.join(ROOT, "build", "release", "src", "cli", "peregrine")
RESNET = os.path.join(ROOT, "examples", "models", "voice-verification", "1", "model.onnx")
TEXTGEN = os.path.join(ROOT, "examples", "models", "textgen-lstm", "1", "model.onnx")
VOCAB = os.path.join(ROOT, "examples", "models", "textgen-lstm", "vocab.txt")
PYTHON = "/usr/bin/python3"  # Debian's interpreter, the one with torch
PROMPT, MAX_TOKENS = "Movie is great.", 20
THREADS, BATCHES = (1, 2), (1, 8)
ENGINES = ("peregrine", "ort", "torch-eager", "torch-script")
# ORT through its public promise API as well: what a Node user sees per call (generation only,
# where 20 calls per request make the per-call JavaScript cost visible).
GEN_ENGINES = ENGINES + ("ort-public",)
# Peregrine once more at 2+ threads with idle OpenMP threads sleeping instead of spinning: on a
# shared machine the spinning thread competes with other processes for the cores (a diagnostic
# column, not used for the targets).
MULTI_THREAD_ONLY = ("peregrine-passive",)
PASSIVE_ENV = {"OMP_WAIT_POLICY": "passive"}


def iteration_plan(workload, batch, engine, quick):
    """(warmup, iters, budget_s) per cell. Odd iteration counts make the median one sample;
    the budget lets slow engines (eager ResNet, 10-20 s at batch 8) stop after fewer iterations.
    ResNet warm-up: Peregrine's CLI is a fresh process per cell, so it needs one; the workers
    keep their models warm between rounds and add an untimed call the first time they see a
    cell, so more would only cost minutes (an eager batch-8 call takes 10-20 s here)."""
    if workload == "generation":
        return (2, 5, 1.0) if quick else (5, 51, 3.0)
    warmup = 1 if engine.startswith("peregrine") else 0
    if quick:
        return (warmup, 1, 0.0)
    return (warmup, 5, 4.0) if batch == 1 else (warmup, 3, 6.0)


def preflight():
    missing = [p for p in (PEREGRINE, RESNET, TEXTGEN, VOCAB) if not os.path.exists(p)]
    if missing:
        sys.exit("missing: " + ", ".join(os.path.relpath(p, ROOT) for p in missing) +
                 "\nbuild:  cmake --preset release && cmake --build --preset release -j2"
                 "\nmodels: examples/build_models.sh   (the full voice-verification model, ~2 minutes)")
    if not os.path.isdir(os.path.join(BENCH, "node_modules", "onnxruntime-node")):
        print("installing onnxruntime-node (npm ci --ignore-scripts) ...", file=sys.stderr)
        subprocess.run(["npm", "ci", "--ignore-scripts"], cwd=BENCH, check=True)
    # Cached PyTorch weights (rebuilt like make_model.py) and the fixed inputs every engine reads.
    subprocess.run([PYTHON, os.path.join(BENCH, "torch_runner.py"), "prepare", "--cache", CACHE], check=True)


class Worker:
    """A runner in --serve mode: one JSON command per line in, one JSON reply per line out."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, cwd=BENCH, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args} exited with {self.proc.wait()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"worker {self.proc.args}: {reply['error']}")
        return reply

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def start_workers():
    node = ["node", os.path.join(BENCH, "ort_runner.mjs"), "--serve"]
    torch = [PYTHON, os.path.join(BENCH, "torch_runner.py"), "serve", "--cache", CACHE]
    return {"ort": Worker(node), "ort-public": Worker(node + ["--api", "public"]),
            "torch-eager": Worker(torch + ["--mode", "eager"]), "torch-script": Worker(torch + ["--mode", "script"])}


def input_file(batch):
    return os.path.join(CACHE, f"mfcc_b{batch}.npy")


def snapshot_peregrine():
    """Copies the CLI into the cache and times that copy: others may rebuild build/release while
    a run takes its 15 minutes, and every Peregrine figure must come from one binary."""
    global PEREGRINE
    snapshot = os.path.join(CACHE, "peregrine")
    shutil.copy2(PEREGRINE, snapshot)
    PEREGRINE = snapshot


def run_peregrine(cell, plan):
    """Times one cell with the CLI; returns (median ms, min ms, output) from its timing line."""
    warmup, iters, _ = plan
    if cell["workload"] == "generation":
        # `generate` has no warm-up flag: its first run (plan compilation) is one of `iters`
        # samples, which moves the median by at most half a rank.
        argv = [PEREGRINE, "generate", TEXTGEN, "--vocab", VOCAB, "--prompt", PROMPT, "--max-tokens", str(MAX_TOKENS),
                "--threads", str(cell["threads"]), "--repeat", str(iters), "--ids"]
    else:
        outdir = tempfile.mkdtemp(prefix="peregrine-out-")
        argv = [PEREGRINE, "run", RESNET, "--input", f"mfcc={input_file(cell['batch'])}", "--threads", str(cell["threads"]),
                "--warmup", str(warmup), "--repeat", str(iters), "--output-dir", outdir]
    env = {**os.environ, **PASSIVE_ENV} if cell["engine"] == "peregrine-passive" else None
    text = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    timing = re.search(r"min ([0-9.]+) ms, p50 ([0-9.]+) ms", text)
    fastest, median = float(timing.group(1)), float(timing.group(2))
    if cell["workload"] == "generation":
        return median, fastest, [int(t) for t in re.search(r"^ids: (.*)$", text, re.M).group(1).split()]
    score = np.load(os.path.join(outdir, "score.npy"))
    shutil.rmtree(outdir)
    return median, fastest, score.flatten().tolist()


def run_cell(workers, cell, plan):
    """(median ms of this batch of calls, fastest call ms, output, load ms or None)."""
    if cell["engine"].startswith("peregrine"):
        return (*run_peregrine(cell, plan), None)
    warmup, iters, budget = plan
    cmd = {"workload": cell["workload"], "threads": cell["threads"], "warmup": warmup, "iters": iters, "budget_s": budget}
    if cell["workload"] == "generation":
        cmd.update(model=TEXTGEN, vocab=VOCAB, prompt=PROMPT, max_tokens=MAX_TOKENS)
    else:
        cmd.update(model=RESNET, input=input_file(cell["batch"]))
    reply = workers[cell["engine"]].ask(cmd)
    output = reply["ids"] if cell["workload"] == "generation" else reply["output"]
    return statistics.median(reply["ms"]), min(reply["ms"]), output, reply.get("load_ms")


def cells(only):
    def engines(base, threads):
        return base + (MULTI_THREAD_ONLY if threads > 1 else ())

    out = []
    if only in (None, "generation"):
        out += [{"workload": "generation", "batch": 1, "threads": t, "engine": e}
                for t in THREADS for e in engines(GEN_ENGINES, t)]
    if only in (None, "resnet"):
        out += [{"workload": "resnet", "batch": b, "threads": t, "engine": e}
                for b in BATCHES for t in THREADS for e in engines(ENGINES, t)]
    return out


def key(cell):
    return (cell["workload"], cell["batch"], cell["threads"], cell["engine"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 5; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="smoke run: one round, few iterations")
    ap.add_argument("--only", choices=["resnet", "generation"])
    ap.add_argument("--no-profile", action="store_true", help="skip profiling when a target is missed")
    ap.add_argument("--peregrine", help="the peregrine CLI to time (default: build/release/src/cli/peregrine)")
    ap.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--report-only", action="store_true",
                    help="re-render the report from the last run's bench/.cache/engine_compare.json")
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    if args.report_only:
        with open(RESULTS) as f:
            return write_report(json.load(f), args)

    if args.peregrine:
        global PEREGRINE
        PEREGRINE = os.path.abspath(args.peregrine)
    preflight()
    snapshot_peregrine()
    started = time.time()
    load_before = os.getloadavg()
    workers = start_workers()
    todo = cells(args.only)
    samples = {key(c): [] for c in todo}  # per-round medians
    fastest = {key(c): float("inf") for c in todo}  # fastest single call over all rounds
    outputs, load_ms = {}, {}
    try:
        for r in range(rounds):
            order = todo[:]
            random.Random(r).shuffle(order)  # a different neighbour order every round, reproducibly
            for i, cell in enumerate(order):
                ms, fast, output, load = run_cell(workers, cell, iteration_plan(cell["workload"], cell["batch"], cell["engine"], args.quick))
                samples[key(cell)].append(ms)
                fastest[key(cell)] = min(fastest[key(cell)], fast)
                outputs.setdefault(key(cell), output)
                if load is not None:
                    load_ms.setdefault(key(cell), load)
                print(f"round {r + 1}/{rounds} [{i + 1}/{len(order)}] {cell['workload']} b{cell['batch']} "
                      f"t{cell['threads']} {cell['engine']}: {ms:.2f} ms", file=sys.stderr, flush=True)
    finally:
        for w in workers.values():
            w.close()

    results = {
        "samples": [{"cell": list(k), "round_medians": v, "fastest": fastest[k], "output": outputs.get(k), "load_ms": load_ms.get(k)}
                    for k, v in samples.items()],
        # Versions and commit as they were while measuring (a later --report-only keeps them).
        "peregrine": PEREGRINE, "info": report.machine_and_versions(PEREGRINE), "rounds": rounds, "quick": args.quick, "only": args.only,
        "command": " ".join(shlex.quote(a) for a in ["/usr/bin/python3", "bench/engine_compare.py"] + sys.argv[1:]),
        "elapsed_s": time.time() - started, "load_before": load_before, "load_after": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(started)),
    }
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=1)
    write_report(results, args)


def write_report(results, args):
    profiles = None if args.no_profile else report.profile_misses(results)
    docs_section.replace_section("engine_compare", report.render(results, profiles), args.output)
    print(f"wrote {os.path.relpath(args.output, ROOT)} ({results['elapsed_s'] / 60:.1f} min)", file=sys.stderr)


if __name__ == "__main__":
    main()
