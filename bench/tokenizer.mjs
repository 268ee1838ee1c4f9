// The word tokenizer of examples/textgen-lstm/tokenizer.py, ported so the ORT runner
// tokenizes and detokenizes inside its timed region like Peregrine and PyTorch do.
// Rules are ASCII-only (see the Python docstring); the benchmark prompt is ASCII, so
// JavaScript's UTF-16 strings give the same pieces as the byte-oriented C++ tokenizer.
import { readFileSync } from 'node:fs';

const SPECIALS = ['<pad>', '<unk>', '<eos>'];
export const UNK = 1;
export const EOS = 2;
const PUNCTUATION = new Set('.,!?;:\'"()-');
const NO_SPACE_BEFORE = new Set(['.', ',', '!', '?', ';', ':', ')', '\'', '-']);
const NO_SPACE_AFTER = new Set(['(', '\'', '-']);
const WHITESPACE = new Set(' \t\n\v\f\r');

export class Vocab {
  constructor(path) {
    const tokens = readFileSync(path, 'utf8').split('\n');
    if (tokens.length && tokens[tokens.length - 1] === '') tokens.pop();  // trailing newline
    if (SPECIALS.some((s, i) => tokens[i] !== s)) throw new Error(`${path} must start with <pad>, <unk>, <eos>`);
    this.tokens = tokens;
    // Reserved spellings stay out of the lookup so text cannot produce control tokens.
    this.index = new Map();
    for (let i = SPECIALS.length; i < tokens.length; ++i) this.index.set(tokens[i], i);
  }

  encode(text) {
    let spaced = '';
    for (let ch of text) {
      if (ch >= 'A' && ch <= 'Z') ch = String.fromCharCode(ch.charCodeAt(0) + 32);
      if (PUNCTUATION.has(ch)) spaced += ` ${ch} `;
      else if (WHITESPACE.has(ch)) spaced += ' ';
      else spaced += ch;
    }
    return spaced.split(' ').filter((t) => t).map((t) => this.index.get(t) ?? UNK);
  }

  decode(ids) {
    let out = '';
    let prev = null;
    for (const id of ids) {
      const tok = this.tokens[id];
      if (prev !== null && !NO_SPACE_BEFORE.has(tok) && !NO_SPACE_AFTER.has(prev)) out += ' ';
      out += tok;
      prev = tok;
    }
    return out;
  }
}
