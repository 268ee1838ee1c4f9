"""The seed's starting point: a Flask app serving the textgen-lstm example with PyTorch, for
bench/generate_compare.py.

    /usr/bin/python3 bench/generate_peers/flask_app.py --mode eager|script [--threads 1] [--port 0] [--port-file F]

POST /v2/models/textgen-lstm/generate  {"text_input": "...", "parameters": {"max_tokens": 20}}
  -> {"model_name": "textgen-lstm", "model_version": "1", "text_output": "..."}
(the request and response of Peregrine's generate endpoint, so one `ab` command line fits all servers).

--mode eager:  the trained nn.Module (examples/textgen-lstm/export.load_step_model(), the checkpoint the
               ONNX file was exported from) in eval mode, greedy loop in Python, under torch.inference_mode().
--mode script: the seed's TorchScript route, given PyTorch's CPU inference recipe: the step model traced,
               the whole greedy loop scripted around it (the seed's "predict_all_steps"), then
               torch.jit.optimize_for_inference (freezes the weights, folds and prepacks what it can).
               Tokenizing and detokenizing stay in Python, as in the seed.

Served by Flask's built-in threaded server (werkzeug make_server(threaded=True), what app.run() uses),
with werkzeug's per-request log line switched off. Warms up with one generation before it writes the
port to --port-file, so the driver measures a warm server.
"""
import argparse
import logging
import os
import sys
from typing import List

import torch
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples", "textgen-lstm"))
from export import load_step_model  # noqa: E402  (the example folder is not a package)
from model import HIDDEN, LAYERS  # noqa: E402
from tokenizer import EOS, Vocab  # noqa: E402

MODEL = "textgen-lstm"
VOCAB = os.path.join(ROOT, "examples", "models", MODEL, "vocab.txt")


def zeros():
    return torch.zeros(LAYERS, 1, HIDDEN), torch.zeros(LAYERS, 1, HIDDEN)


def eager_generator(step):
    """Greedy loop of examples/textgen-lstm/reference.py: prefill the prompt, then argmax one token
    per step call until <eos> or max_new tokens."""
    def generate(prompt_ids, max_new):
        logits, h, c = step(torch.tensor([prompt_ids]), *zeros())
        out = []
        while True:
            token = int(torch.argmax(logits[0]))
            if token == EOS:
                break
            out.append(token)
            if len(out) >= max_new:
                break
            logits, h, c = step(torch.tensor([[token]]), h, c)
        return out
    return generate


class GreedyLoop(torch.nn.Module):
    """The same loop as eager_generator, in TorchScript (one call per request, no Python per step)."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def forward(self, prompt_ids: torch.Tensor, max_new: int) -> List[int]:
        h = torch.zeros(2, 1, 192)
        c = torch.zeros(2, 1, 192)
        logits, h, c = self.step(prompt_ids, h, c)
        out: List[int] = []
        while True:
            token = int(torch.argmax(logits[0]))
            if token == 2:  # <eos>
                break
            out.append(token)
            if len(out) >= max_new:
                break
            logits, h, c = self.step(torch.tensor([[token]]), h, c)
        return out


def script_generator(step):
    assert (LAYERS, HIDDEN, EOS) == (2, 192, 2), "GreedyLoop hard-codes the state shape and <eos>"
    # Traced on a 4-token prompt; the LSTM op takes any sequence length, so 1-token steps reuse it.
    traced = torch.jit.trace(step, (torch.tensor([[3, 4, 5, 6]]), *zeros()), check_trace=False)
    loop = torch.jit.optimize_for_inference(torch.jit.script(GreedyLoop(traced).eval()))
    return lambda prompt_ids, max_new: loop(torch.tensor([prompt_ids]), max_new)


def build_app(generate, vocab):
    app = Flask(__name__)

    @app.post(f"/v2/models/{MODEL}/generate")
    def generate_endpoint():
        body = request.get_json(force=True)
        text = body.get("text_input", "")
        max_new = int(body.get("parameters", {}).get("max_tokens", 20))
        if not text.strip() or max_new <= 0:
            return jsonify(error="text_input must not be empty and max_tokens must be > 0"), 400
        with torch.inference_mode():
            ids = generate(vocab.encode(text), max_new)
        return jsonify(model_name=MODEL, model_version="1", text_output=vocab.decode(ids))

    return app


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["eager", "script"], required=True)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--port-file", help="write the port here once warm and listening")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    vocab = Vocab.load(VOCAB)
    step = load_step_model()
    with torch.inference_mode():
        generate = eager_generator(step) if args.mode == "eager" else script_generator(step)
    app = build_app(generate, vocab)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no log line per request
    server = make_server(args.host, args.port, app, threaded=True)
    client = app.test_client()
    for _ in range(3):  # warm-up (TorchScript's profiling executor optimizes on the first calls)
        client.post(f"/v2/models/{MODEL}/generate",
                    json={"text_input": "Movie is great.", "parameters": {"max_tokens": 20}})
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_port))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"flask ({args.mode}) listening on {args.host}:{server.server_port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
