"""Times PyTorch (eager or TorchScript) on the benchmark workloads.

    /usr/bin/python3 torch_runner.py prepare [--cache DIR]
    /usr/bin/python3 torch_runner.py resnet --mode eager|script --input DIR/mfcc_b8.npy --threads 1 ...
    /usr/bin/python3 torch_runner.py generation --mode eager|script --prompt TEXT --max-tokens 20 ...
    /usr/bin/python3 torch_runner.py serve --mode eager|script

`prepare` rebuilds the voice-verification ResNet exactly as make_model.py does (seeded init and
BatchNorm calibration, about a minute) and caches its state_dict, so timing processes start in
seconds; it also writes the fixed .npy inputs all engines read. The ONNX file was exported from
that same module, so the engines see the same weights (engine_compare.py checks the outputs agree).
`resnet`/`generation` time once and print one JSON object; `serve` (used by engine_compare.py)
reads one JSON command per stdin line, with the flags' names as keys, and answers one JSON line,
keeping models built between commands.
"""
import argparse
import importlib
import json
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
VV_DIR = os.path.join(ROOT, "examples", "voice-verification")
TG_DIR = os.path.join(ROOT, "examples", "textgen-lstm")
WEIGHTS = "voice-verification-full.pt"
INPUT_SEED = 7  # fixed benchmark inputs; any seed works, it only has to be the same for all engines
BATCHES = (1, 8)
# Module names the example folders define; both folders have a model.py.
EXAMPLE_MODULES = ("model", "make_model", "export", "tokenizer")


def import_example(directory, name):
    """Imports examples/<dir>/<name>.py with that folder's own model.py: a process serving both
    workloads would otherwise get whichever model.py it imported first."""
    saved = {k: sys.modules.pop(k) for k in EXAMPLE_MODULES if k in sys.modules}
    sys.path.insert(0, directory)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(directory)
        for k in EXAMPLE_MODULES:
            sys.modules.pop(k, None)
        sys.modules.update(saved)


def input_path(cache, batch):
    return os.path.join(cache, f"mfcc_b{batch}.npy")


def prepare(args):
    make_model = import_example(VV_DIR, "make_model")
    model_py = import_example(VV_DIR, "model")
    os.makedirs(args.cache, exist_ok=True)
    weights = os.path.join(args.cache, WEIGHTS)
    sources = [os.path.join(VV_DIR, f) for f in ("model.py", "make_model.py")]
    if not os.path.exists(weights) or any(os.path.getmtime(s) > os.path.getmtime(weights) for s in sources):
        t0 = time.time()
        # seed 0: the default examples/build_models.sh exported the ONNX file with.
        torch.save(make_model.make("full", seed=0).state_dict(), weights + ".tmp")
        os.replace(weights + ".tmp", weights)
        print(f"cached {weights} in {time.time() - t0:.0f} s", file=sys.stderr)
    gen = torch.Generator().manual_seed(INPUT_SEED)
    for batch in BATCHES:
        np.save(input_path(args.cache, batch), model_py.mfcc_like(batch, gen).numpy())


def load_resnet(cache):
    model = import_example(VV_DIR, "model").build("full")
    model.load_state_dict(torch.load(os.path.join(cache, WEIGHTS)))
    return model.eval()


def to_script(module, example):
    # PyTorch's CPU inference recipe: trace, then optimize_for_inference, which freezes the
    # weights, folds Conv+BatchNorm and moves convolutions onto prepacked oneDNN (MKL-DNN)
    # kernels. check_trace=False: the check re-runs the model twice and proves nothing here,
    # since engine_compare.py compares every engine's outputs anyway.
    return torch.jit.optimize_for_inference(torch.jit.trace(module, example, check_trace=False).eval())


def time_calls(fn, cmd):
    """Warm-up, then up to cmd["iters"] timed calls, stopping early once cmd["budget_s"] seconds
    have been timed (always at least one call): the slow cells get fewer iterations."""
    result = None
    for _ in range(cmd["warmup"]):
        result = fn()
    ms = []
    start = time.perf_counter()
    while len(ms) < cmd["iters"] and (not ms or time.perf_counter() - start < cmd["budget_s"]):
        t0 = time.perf_counter_ns()
        result = fn()
        ms.append((time.perf_counter_ns() - t0) / 1e6)
    return ms, result


class Worker:
    """Builds each model once (per input shape for TorchScript) and times commands on it."""

    def __init__(self, mode, cache):
        self.mode, self.cache = mode, cache
        self.models = {}  # key -> module
        # Cells already run once. The first call on a new input shape or thread count is slow
        # (allocator, OpenMP team start-up), so such a cell always gets one untimed call.
        self.warmed = set()

    def model(self, key, build, example):
        """(module, extra reply fields): load_ms is reported the first time only."""
        if key in self.models:
            return self.models[key], {}
        t0 = time.perf_counter()
        module = build()
        if self.mode == "script":
            # Traced per input shape, as a fixed-shape TorchScript deployment would be.
            module = to_script(module, example(module))
        self.models[key] = module
        return module, {"load_ms": (time.perf_counter() - t0) * 1e3}

    def resnet(self, cmd):
        mfcc = torch.from_numpy(np.load(cmd["input"]))
        model, info = self.model(("resnet", tuple(mfcc.shape)), lambda: load_resnet(self.cache), lambda m: mfcc)
        ms, score = time_calls(lambda: model(mfcc), cmd)
        return {**info, "ms": ms, "output": score.flatten().tolist()}

    def generation(self, cmd):
        tokenizer = import_example(TG_DIR, "tokenizer")
        vocab = tokenizer.Vocab.load(cmd["vocab"])
        # The very loader the ONNX export used, so both engines run the same checkpoint.
        eager = self.models.get("textgen-eager") or import_example(TG_DIR, "export").load_step_model()
        self.models["textgen-eager"] = eager
        layers, hidden = eager.lm.lstm.num_layers, eager.lm.lstm.hidden_size

        def zeros():
            return torch.zeros(layers, 1, hidden)

        # Traced on a 4-token prompt; the LSTM op takes any sequence length, so the same graph
        # serves the 1-token steps (the warm-up lets the profiling executor see both shapes).
        step, info = self.model(("generation",), lambda: eager,
                                lambda m: (torch.tensor([[3, 4, 5, 6]]), zeros(), zeros()))

        # The loop of generation::Generator and examples/textgen-lstm/reference.py: prefill the
        # prompt with zero state, then greedy argmax one token per call, stopping at <eos>.
        def generate():
            prompt = vocab.encode(cmd["prompt"])
            logits, h, c = step(torch.tensor([prompt]), zeros(), zeros())
            ids = []
            while True:
                token = int(torch.argmax(logits[0]))
                if token == tokenizer.EOS:
                    break
                ids.append(token)
                if len(ids) >= cmd["max_tokens"]:
                    break
                logits, h, c = step(torch.tensor([[token]]), h, c)
            return ids, vocab.decode(ids)

        ms, (ids, text) = time_calls(generate, cmd)
        return {**info, "ms": ms, "ids": ids, "text": text}

    def handle(self, cmd):
        cell = (cmd["workload"], cmd["input"], cmd["threads"])
        if cell not in self.warmed:
            cmd = {**cmd, "warmup": max(cmd["warmup"], 1)}
        self.warmed.add(cell)
        torch.set_num_threads(cmd["threads"])
        with torch.inference_mode():
            result = self.resnet(cmd) if cmd["workload"] == "resnet" else self.generation(cmd)
        return {"engine": f"torch-{self.mode}", "version": torch.__version__, "threads": cmd["threads"], **result}



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workload", choices=["prepare", "resnet", "generation", "serve"])
    ap.add_argument("--cache", default=os.path.join(ROOT, "bench", ".cache"))
    ap.add_argument("--mode", choices=["eager", "script"], default="eager")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--budget-s", type=float, default=float("inf"), help="stop timing after this many seconds")
    ap.add_argument("--input", help="resnet: .npy input (from `prepare`)")
    ap.add_argument("--vocab", default=os.path.join(ROOT, "examples", "models", "textgen-lstm", "vocab.txt"))
    ap.add_argument("--prompt", default="Movie is great.")
    ap.add_argument("--max-tokens", type=int, default=20)
    args = ap.parse_args()
    if args.workload == "prepare":
        return prepare(args)

    torch.set_num_interop_threads(1)  # like ORT's interOpNumThreads=1: no inter-op parallelism
    worker = Worker(args.mode, args.cache)
    defaults = {k: v for k, v in vars(args).items() if k not in ("cache", "mode")}
    if args.workload != "serve":
        print(json.dumps(worker.handle(defaults)))
        return
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = worker.handle({**defaults, **json.loads(line)})
        except Exception as e:  # noqa: BLE001 -- report to the driver instead of dying mid-run
            reply = {"error": repr(e)}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
