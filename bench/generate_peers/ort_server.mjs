// The seed's end point, "ONNX Runtime in another runtime": a plain node:http server running the
// textgen-lstm ONNX step model on onnxruntime-node (CPU EP), for bench/generate_compare.py.
//
//   node bench/generate_peers/ort_server.mjs [--threads 1] [--port 0] [--port-file F]
//
// POST /v2/models/textgen-lstm/generate  {"text_input": "...", "parameters": {"max_tokens": 20}}
//   -> {"model_name": "textgen-lstm", "model_version": "1", "text_output": "..."}
// (Peregrine's generate endpoint, so one `ab` command line fits all servers).
//
// Written the way a Node user would: the public InferenceSession API (await session.run per step),
// the tokenizer of bench/tokenizer.mjs (examples/textgen-lstm/tokenizer.py's rules) and the greedy loop
// of examples/textgen-lstm/reference.py. Requests interleave on the event loop between steps; each
// step runs alone (no batching across requests). Warms up with one generation before it writes the
// port to --port-file, as the seed's Java service warmed up at start-up.
import { writeFileSync, renameSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { EOS, Vocab } from '../tokenizer.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = 'textgen-lstm';
const MODEL_DIR = join(ROOT, 'examples', 'models', MODEL);
const LAYERS = 2;
const HIDDEN = 192;

const { values: flags } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'port-file': { type: 'string' },
  },
});

const session = await ort.InferenceSession.create(join(MODEL_DIR, '1', 'model.onnx'), {
  executionProviders: ['cpu'],
  intraOpNumThreads: Number(flags.threads),
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const vocab = new Vocab(join(MODEL_DIR, 'vocab.txt'));

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; ++i) if (values[i] > values[best]) best = i;  // lowest id on a tie
  return best;
}

function tokens(ids) {
  return new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
}

async function generate(text, maxNew) {
  const zeros = () => new ort.Tensor('float32', new Float32Array(LAYERS * HIDDEN), [LAYERS, 1, HIDDEN]);
  let out = await session.run({ token_ids: tokens(vocab.encode(text)), h0: zeros(), c0: zeros() });
  const ids = [];
  for (;;) {
    const next = argmax(out.logits.data);
    if (next === EOS) break;
    ids.push(next);
    if (ids.length >= maxNew) break;
    out = await session.run({ token_ids: tokens([next]), h0: out.hn, c0: out.cn });
  }
  return vocab.decode(ids);
}

function reply(res, status, body) {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}

async function handle(req, res) {
  if (req.method !== 'POST' || req.url !== `/v2/models/${MODEL}/generate`) {
    return reply(res, 404, { error: 'not found' });
  }
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  let text, maxNew;
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    text = body.text_input ?? '';
    maxNew = Number(body.parameters?.max_tokens ?? 20);
  } catch (e) {
    return reply(res, 400, { error: `bad JSON: ${e.message}` });
  }
  if (!text.trim() || !(maxNew > 0)) {
    return reply(res, 400, { error: 'text_input must not be empty and max_tokens must be > 0' });
  }
  reply(res, 200, { model_name: MODEL, model_version: '1', text_output: await generate(text, maxNew) });
}

await generate('Movie is great.', 20);  // warm-up
const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => reply(res, 500, { error: String(e) }));
});
server.keepAliveTimeout = 60_000;
server.listen(Number(flags.port), flags.host, () => {
  const { port } = server.address();
  if (flags['port-file']) {
    writeFileSync(`${flags['port-file']}.tmp`, String(port));
    renameSync(`${flags['port-file']}.tmp`, flags['port-file']);
  }
  console.error(`node onnxruntime-node server listening on ${flags.host}:${port}`);
});
