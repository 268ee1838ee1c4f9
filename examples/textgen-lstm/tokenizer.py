"""Word-level tokenizer shared by training, export and the reference outputs.

The C++ server re-implements exactly these rules, so they are kept byte-oriented
and free of Unicode tables:

encode(text):
  1. Lowercase ASCII letters A-Z only; every other byte is left unchanged.
  2. Each of the 11 characters  . , ! ? ; : ' " ( ) -  becomes a token of its own
     (as if surrounded by spaces).
  3. Split on runs of ASCII whitespace (space, \\t, \\n, \\v, \\f, \\r); empty
     pieces are dropped.
  4. Map each piece to its id in vocab.txt (line index = id). A piece that is not
     in the vocabulary, or that spells one of the reserved tokens (<pad>, <unk>,
     <eos>), becomes <unk> (id 1), so text can never inject a control token.

decode(ids):
  Tokens are joined with one space, except: no space BEFORE  . , ! ? ; : ) ' -
  and no space AFTER  ( ' -  (so "don ' t" -> "don't", "well - made" ->
  "well-made"). Reserved ids render as their spelling (<unk>, ...); generation
  stops at <eos>, so it normally never reaches decode.
"""

PAD, UNK, EOS = 0, 1, 2
SPECIALS = ["<pad>", "<unk>", "<eos>"]
PUNCTUATION = ".,!?;:'\"()-"
NO_SPACE_BEFORE = set(".,!?;:)'-")
NO_SPACE_AFTER = set("('-")
_WHITESPACE = " \t\n\v\f\r"


def tokenize(text):
    """Text -> list of token strings (rules 1-3 above)."""
    out = []
    for ch in text:
        if "A" <= ch <= "Z":
            ch = chr(ord(ch) + 32)
        if ch in PUNCTUATION:
            out.append(" " + ch + " ")
        elif ch in _WHITESPACE:
            out.append(" ")
        else:
            out.append(ch)
    # str.split() with no argument would also split on Unicode spaces; split on
    # the ASCII set only to match the C++ side.
    return [t for t in "".join(out).split(" ") if t]


def load_vocab(path):
    with open(path, encoding="utf-8") as f:
        tokens = f.read().split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()  # trailing newline of the last line
    assert tokens[:3] == SPECIALS, "vocab.txt must start with <pad>, <unk>, <eos>"
    return tokens


class Vocab:
    def __init__(self, tokens):
        self.tokens = list(tokens)
        # Reserved spellings are deliberately absent from the lookup table (rule 4).
        self.index = {t: i for i, t in enumerate(self.tokens) if i >= len(SPECIALS)}

    @classmethod
    def load(cls, path):
        return cls(load_vocab(path))

    def __len__(self):
        return len(self.tokens)

    def encode(self, text):
        return [self.index.get(t, UNK) for t in tokenize(text)]

    def decode(self, ids):
        out = ""
        prev = None
        for i in ids:
            tok = self.tokens[i]
            if prev is not None and tok not in NO_SPACE_BEFORE and prev not in NO_SPACE_AFTER:
                out += " "
            out += tok
            prev = tok
        return out
