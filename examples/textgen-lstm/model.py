"""Word-level LSTM language model: Embedding -> 2-layer LSTM -> Linear over the vocabulary."""
from torch import nn

# Small enough that the exported ONNX file stays near 3 MB (fp32), large enough to
# learn the corpus grammar in a few CPU minutes.
EMBED = 64
HIDDEN = 192
LAYERS = 2


class TextGenLSTM(nn.Module):
    def __init__(self, vocab_size, embed=EMBED, hidden=HIDDEN, layers=LAYERS):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, token_ids, state=None):
        """token_ids [batch, seq] -> logits [batch, seq, vocab], (h, c) [layers, batch, hidden]."""
        out, state = self.lstm(self.embed(token_ids), state)
        return self.head(out), state


class StepModel(nn.Module):
    """The exported inference graph: one call consumes `seq` tokens and returns the
    next-token logits of the last position plus the new state, so a server can prefill
    a prompt in one call and then decode one token per call. The state is an explicit
    input (not created inside) so the ONNX graph has no batch-size-dependent constants."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, token_ids, h0, c0):
        out, (hn, cn) = self.lm.lstm(self.lm.embed(token_ids), (h0, c0))
        # Project only the last position: a prompt prefill needs one row of logits, not seq.
        return self.lm.head(out[:, -1, :]), hn, cn
