// Times ONNX Runtime's CPU execution provider (npm onnxruntime-node, pinned in package.json)
// on the benchmark workloads.
//
// One shot (prints one JSON object):
//   node ort_runner.mjs --workload resnet --model M --input mfcc_b8.npy --threads 1 --warmup 1 --iters 3
//   node ort_runner.mjs --workload generation --model M --vocab V --prompt "Movie is great." --max-tokens 20 ...
// Server (what engine_compare.py uses, so the 234 MB model is loaded once per thread count, not
// once per measurement): --serve reads one JSON command per stdin line, with the same keys as the
// flags (max_tokens, budget_s with underscores), and answers one JSON line each.
//
// --api direct (default) calls the native session synchronously; --api public goes through
// InferenceSession.run, whose promise defers every call through setImmediate. The engines are
// compared on their kernels, so the default keeps that JavaScript glue out of the timed region.
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { readNpyFloat32 } from './npy.mjs';
import { EOS, Vocab } from './tokenizer.mjs';

const { values: flags } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    api: { type: 'string', default: 'direct' },
    workload: { type: 'string' },
    model: { type: 'string' },
    input: { type: 'string' },
    vocab: { type: 'string' },
    prompt: { type: 'string', default: 'Movie is great.' },
    'max-tokens': { type: 'string', default: '20' },
    threads: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '1' },
    iters: { type: 'string', default: '5' },
    'budget-s': { type: 'string', default: 'Infinity' },  // stop early once this many seconds were timed
    profile: { type: 'string' },  // file prefix: enables ORT's own per-node profiler (one-shot only)
  },
});

// Settings of every session; engine_compare.py copies them into docs/benchmarks.md.
function sessionOptions(threads, profile) {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(profile ? { enableProfiling: true, profileFilePrefix: profile } : {}),
  };
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// { run(feeds) -> outputs or a promise of them, end() -> profile file, inputMetadata, loadMs }
async function openSession(path, options) {
  const t0 = nowMs();
  let session;
  if (flags.api === 'public') {
    const s = await ort.InferenceSession.create(path, options);
    session = { run: (feeds) => s.run(feeds), end: () => s.endProfiling(), inputMetadata: s.inputMetadata };
  } else if (flags.api === 'direct') {
    // The same native object InferenceSession wraps (dist/backend.js), minus the promise hop.
    const { binding, initOrt } = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js');
    initOrt();
    const s = new binding.InferenceSession();
    s.loadModel(path, options);
    const fetches = Object.fromEntries(s.outputMetadata.map((m) => [m.name, null]));
    session = { run: (feeds) => s.run(feeds, fetches, {}), end: () => s.endProfiling(), inputMetadata: s.inputMetadata };
  } else {
    throw new Error(`--api must be direct or public, not ${flags.api}`);
  }
  session.loadMs = nowMs() - t0;
  return session;
}

// Warm-up, then up to `iters` timed calls of fn, stopping early past budget_s (at least one call).
async function timeCalls(fn, cmd) {
  let result;
  for (let i = 0; i < cmd.warmup; ++i) result = await fn();
  const ms = [];
  const start = nowMs();
  while (ms.length < cmd.iters && (ms.length === 0 || nowMs() - start < cmd.budget_s * 1000)) {
    const t0 = nowMs();
    result = await fn();
    ms.push(nowMs() - t0);
  }
  return { ms, result };
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; ++i) if (values[i] > values[best]) best = i;  // first maximum, like std::max_element
  return best;
}

async function resnet(session, cmd) {
  const { data, shape } = readNpyFloat32(cmd.input);
  const feeds = { mfcc: new ort.Tensor('float32', data, shape) };
  const { ms, result } = await timeCalls(() => session.run(feeds), cmd);
  return { ms, output: Array.from(result.score.data) };
}

async function generation(session, cmd) {
  const vocab = new Vocab(cmd.vocab);
  // h0/c0 are [layers, batch, hidden]; the batch axis is symbolic, the others are fixed.
  const stateShape = session.inputMetadata.find((m) => m.name === 'h0').shape;
  const dims = [stateShape[0], 1, stateShape[2]];
  const zeros = () => new ort.Tensor('float32', new Float32Array(dims[0] * dims[2]), dims);

  // Mirrors generation::Generator: one prefill call over the prompt, then one call per new
  // token; greedy argmax; stop at <eos> or after max_tokens tokens (so at most max_tokens calls).
  async function generate() {
    const prompt = vocab.encode(cmd.prompt);
    let feeds = {
      token_ids: new ort.Tensor('int64', BigInt64Array.from(prompt, BigInt), [1, prompt.length]),
      h0: zeros(),
      c0: zeros(),
    };
    const ids = [];
    for (;;) {
      const out = await session.run(feeds);
      const token = argmax(out.logits.data);
      if (token === EOS) break;
      ids.push(token);
      if (ids.length >= cmd.max_tokens) break;
      feeds = { token_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(token)), [1, 1]), h0: out.hn, c0: out.cn };
    }
    return { ids, text: vocab.decode(ids) };
  }

  const { ms, result } = await timeCalls(generate, cmd);
  return { ms, ...result };
}

const workloads = { resnet, generation };
const sessions = new Map();  // "model|threads" -> session, reused across server commands
// Cells already run once. The first call on a new input shape or thread count is slow (memory
// planning, thread start-up), so such a cell always gets one untimed call, whatever its warm-up.
const warmed = new Set();

async function handle(cmd) {
  if (!workloads[cmd.workload]) throw new Error(`workload must be resnet or generation, not ${cmd.workload}`);
  const key = `${cmd.model}|${cmd.threads}`;
  let session = cmd.profile ? undefined : sessions.get(key);
  const loaded = !session;
  if (!session) {
    session = await openSession(cmd.model, sessionOptions(cmd.threads, cmd.profile));
    if (!cmd.profile) sessions.set(key, session);
  }
  const cell = `${key}|${cmd.workload}|${cmd.input}`;
  if (!warmed.has(cell)) cmd.warmup = Math.max(cmd.warmup, 1);
  warmed.add(cell);
  const result = await workloads[cmd.workload](session, cmd);
  return {
    engine: 'onnxruntime',
    version: ort.env.versions.node,
    api: flags.api,
    threads: cmd.threads,
    session_options: sessionOptions(cmd.threads),
    ...(loaded ? { load_ms: session.loadMs } : {}),
    ...(cmd.profile ? { profile: session.end() } : {}),
    ...result,
  };
}

// Flags and server commands share defaults; numbers arrive as strings from the command line.
function command(fields) {
  const cmd = { ...flags, max_tokens: flags['max-tokens'], budget_s: flags['budget-s'], ...fields };
  for (const k of ['threads', 'warmup', 'iters', 'max_tokens', 'budget_s']) cmd[k] = Number(cmd[k]);
  return cmd;
}

if (flags.serve) {
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    let reply;
    try {
      reply = await handle(command(JSON.parse(line)));
    } catch (e) {
      reply = { error: String(e?.stack ?? e) };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
} else {
  console.log(JSON.stringify(await handle(command({}))));
}
