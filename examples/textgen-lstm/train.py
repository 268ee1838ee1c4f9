"""Build the vocabulary from corpus.txt and train the LSTM language model.

    /usr/bin/python3 train.py [--steps N]

Writes ../models/textgen-lstm/vocab.txt and checkpoint.pt. Deterministic for a given
torch build: fixed seeds, fixed thread count (the split of reductions across threads
changes float rounding), deterministic algorithms only.
"""
import argparse
import collections
import os
import time

import torch
import torch.nn.functional as F

from model import TextGenLSTM
from tokenizer import EOS, PUNCTUATION, SPECIALS, Vocab, tokenize

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus.txt")
VOCAB = os.path.join(HERE, "..", "models", "textgen-lstm", "vocab.txt")
CHECKPOINT = os.path.join(HERE, "checkpoint.pt")
THREADS = 1  # also avoids OpenMP barrier stalls when other jobs load the cores
HELD_OUT = 200  # last reviews of the corpus, used only to report validation loss


def fast_linear(x, weight, bias=None):
    """x [N, in] @ weight[out, in]^T + bias, computed as a 1x1 convolution.

    Debian's torch links the netlib reference BLAS (~5 GFLOP/s here), which makes
    nn.LSTM/nn.Linear training take hours; its convolutions go through oneDNN instead
    (~100+ GFLOP/s). Same math, different kernel."""
    return F.conv2d(x[:, :, None, None], weight[:, :, None, None], bias).flatten(1)


def fast_forward(model, token_ids):
    """Zero-state forward of TextGenLSTM, unrolled over time with fast_linear. Uses the
    module's own parameters, so the trained weights load into nn.LSTM unchanged."""
    batch, seq = token_ids.shape
    x = model.embed(token_ids)
    lstm = model.lstm
    for layer in range(lstm.num_layers):
        w_ih, w_hh, b_ih, b_hh = (getattr(lstm, f"{n}_l{layer}")
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        gates_in = fast_linear(x.reshape(batch * seq, -1), w_ih, b_ih + b_hh).view(batch, seq, -1)
        h = c = x.new_zeros(batch, lstm.hidden_size)
        outs = []
        # unbind, not gates_in[:, t]: each slice's backward would build a full-size zero tensor.
        for gates_t in gates_in.unbind(1):
            # PyTorch's gate order: input, forget, cell, output.
            i, f, g, o = (gates_t + fast_linear(h, w_hh)).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        x = torch.stack(outs, 1)
    logits = fast_linear(x.reshape(batch * seq, -1), model.head.weight, model.head.bias)
    return logits.view(batch, seq, -1)


def build_vocab(lines):
    # Specials first (fixed ids 0-2), then every punctuation token (so the tokenizer's
    # output is always in the vocabulary, even a mark the corpus never uses), then the
    # corpus words by falling frequency, ties broken alphabetically for determinism.
    counts = collections.Counter(t for line in lines for t in tokenize(line))
    words = sorted((t for t in counts if t not in PUNCTUATION), key=lambda t: (-counts[t], t))
    return Vocab(SPECIALS + list(PUNCTUATION) + words)


def encode_corpus(vocab, lines):
    """One token stream; each review is followed by <eos>. Returns (stream, review starts)."""
    stream, starts = [], []
    for line in lines:
        starts.append(len(stream))
        stream += vocab.encode(line) + [EOS]
    return torch.tensor(stream), torch.tensor(starts)


def batches(stream, starts, batch, seq, gen):
    """Windows of seq+1 tokens. Half start at a review boundary (the serving situation:
    zero state, prompt = start of a review), half anywhere (robustness mid-text)."""
    limit = len(stream) - seq - 1
    at_start = starts[torch.randint(len(starts), (batch,), generator=gen)].clamp(max=limit)
    anywhere = torch.randint(limit, (batch,), generator=gen)
    pick = torch.rand(batch, generator=gen) < 0.5
    begin = torch.where(pick, at_start, anywhere)
    idx = begin[:, None] + torch.arange(seq + 1)[None, :]
    win = stream[idx]
    return win[:, :-1], win[:, 1:]


@torch.no_grad()
def evaluate(model, stream, seq=64):
    model.eval()
    n = (len(stream) - 1) // seq * seq
    x = stream[:n].view(-1, seq)
    y = stream[1:n + 1].view(-1, seq)
    logits = fast_forward(model, x)
    model.train()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--seq", type=int, default=48)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)

    with open(CORPUS, encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l.strip()]
    vocab = build_vocab(lines)
    os.makedirs(os.path.dirname(VOCAB), exist_ok=True)
    with open(VOCAB, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(vocab.tokens) + "\n")
    print(f"vocab: {len(vocab)} tokens -> {os.path.normpath(VOCAB)}")

    train_stream, train_starts = encode_corpus(vocab, lines[:-HELD_OUT])
    val_stream, _ = encode_corpus(vocab, lines[-HELD_OUT:])
    print(f"train tokens: {len(train_stream)}, held-out tokens: {len(val_stream)}")

    model = TextGenLSTM(len(vocab))
    with torch.no_grad():  # the unrolled path must match nn.LSTM exactly (up to rounding)
        probe = train_stream[:40].view(2, 20)
        assert torch.allclose(fast_forward(model, probe), model(probe)[0], atol=1e-5)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    def lr_factor(s):
        # Cosine decay to 5% of the peak rate: converges reliably in a fixed step budget.
        return 0.05 + 0.95 * 0.5 * (1 + torch.cos(torch.tensor(s / args.steps * 3.14159265)).item())

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    for step in range(1, args.steps + 1):
        x, y = batches(train_stream, train_starts, args.batch, args.seq, gen)
        logits = fast_forward(model, x)
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # LSTMs occasionally spike
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps:
            held_out = evaluate(model, val_stream)
            print(f"step {step:5d}  loss {loss.item():.3f}  held-out {held_out:.3f}  "
                  f"{time.time() - t0:.0f}s", flush=True)

    torch.save({"state_dict": model.state_dict(), "vocab_size": len(vocab)}, CHECKPOINT)
    print(f"saved {CHECKPOINT}")


if __name__ == "__main__":
    main()
