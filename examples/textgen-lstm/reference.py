"""Write PyTorch reference outputs for the text-generation step model.

    /usr/bin/python3 reference.py

reference/greedy.json   the greedy continuation of PROMPT that the server must reproduce
reference/caseN_*.npy   step-call inputs (token_ids, h0, c0) and outputs (logits, hn, cn)

Greedy loop (the server's contract): tokenize the prompt; one step call with all prompt
tokens and zero state; then repeat MAX_NEW times: pick argmax(logits) (lowest id on a
tie), stop without emitting it if it is <eos>, otherwise emit it and, if more tokens are
wanted, feed it alone with the returned state.
"""
import json
import os

import numpy as np
import torch

from export import load_step_model
from model import HIDDEN, LAYERS
from tokenizer import EOS, Vocab

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "..", "models", "textgen-lstm", "vocab.txt")
OUTDIR = os.path.join(HERE, "reference")
PROMPT = "Movie is great."
MAX_NEW = 20


def zeros(batch):
    return torch.zeros(LAYERS, batch, HIDDEN), torch.zeros(LAYERS, batch, HIDDEN)


@torch.no_grad()
def greedy(step, prompt_ids, max_new):
    logits, h, c = step(torch.tensor([prompt_ids]), *zeros(1))
    out, margins = [], []
    for i in range(max_new):
        top2 = torch.topk(logits[0], 2)
        nxt = int(torch.argmax(logits[0]))
        # How far the winner is ahead: tells the C++ side how much float drift is safe.
        margins.append(float(top2.values[0] - top2.values[1]))
        if nxt == EOS:
            break
        out.append(nxt)
        if i + 1 < max_new:
            logits, h, c = step(torch.tensor([[nxt]]), h, c)
    return out, margins


@torch.no_grad()
def save_case(step, name, token_ids, h0, c0):
    logits, hn, cn = step(token_ids, h0, c0)
    arrays = {"token_ids": token_ids, "h0": h0, "c0": c0, "logits": logits, "hn": hn, "cn": cn}
    for key, value in arrays.items():
        np.save(os.path.join(OUTDIR, f"{name}_{key}.npy"), value.numpy())
    print(f"{name}: token_ids {tuple(token_ids.shape)} -> logits {tuple(logits.shape)}")
    return hn, cn


def main():
    torch.set_num_threads(1)  # fixed reduction order -> identical files on every run
    step = load_step_model()
    vocab = Vocab.load(VOCAB)
    os.makedirs(OUTDIR, exist_ok=True)

    prompt_ids = vocab.encode(PROMPT)
    new_ids, margins = greedy(step, prompt_ids, MAX_NEW)
    result = {
        "prompt": PROMPT,
        "prompt_token_ids": prompt_ids,
        "max_new_tokens": MAX_NEW,
        "generated_token_ids": new_ids,
        "generated_text": vocab.decode(new_ids),
        "full_text": vocab.decode(prompt_ids + new_ids),
        "min_top1_margin": round(min(margins), 4),
    }
    with open(os.path.join(OUTDIR, "greedy.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result, indent=2))

    gen = torch.Generator().manual_seed(7)
    # case1: the greedy prefill (prompt, zero state).
    h, c = save_case(step, "case1", torch.tensor([prompt_ids]), *zeros(1))
    # case2: one decode step continuing from case1's state.
    save_case(step, "case2", torch.tensor([[new_ids[0]]]), h, c)
    # case3: batch 3, seq 6, random tokens and a non-zero state (h in (-1, 1) like a real one).
    save_case(step, "case3", torch.randint(3, len(vocab), (3, 6), generator=gen),
              torch.tanh(torch.randn(LAYERS, 3, HIDDEN, generator=gen)),
              torch.randn(LAYERS, 3, HIDDEN, generator=gen))
    # case4: batch 2 of real text, zero state, one row being the greedy prompt.
    rows = [vocab.encode("The acting is wonderful, and the"), prompt_ids + new_ids[:3]]
    save_case(step, "case4", torch.tensor(rows), *zeros(2))


if __name__ == "__main__":
    main()
