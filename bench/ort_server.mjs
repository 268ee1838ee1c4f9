// The peer of bench/batching_compare.py: the HTTP inference server a Node.js team would write over
// onnxruntime-node (pinned in package.json) - KServe V2 JSON in, JSON out, the same answers as
// Peregrine's voice-verification config (the model's outputs plus a BOOL "decision" = score >= threshold,
// the threshold overridable by the request parameter "decision_threshold").
//
//   node ort_server.mjs --model M.onnx --name NAME [--threads T] [--workers W] [--port 0] [--port-file F]
//
// --threads: ORT intra-op threads per session. --workers: processes (node:cluster, sharing the port),
// each with its own session: Node runs JavaScript on one thread, so more processes is how a Node server
// uses more cores. Endpoints: POST /v2/models/NAME/infer, GET /v2/health/ready.
import cluster from 'node:cluster';
import { writeFileSync, renameSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';

const { values: flags } = parseArgs({
  options: {
    model: { type: 'string' },
    name: { type: 'string' },
    threads: { type: 'string', default: '1' },
    workers: { type: 'string', default: '1' },
    port: { type: 'string', default: '0' },
    'port-file': { type: 'string' },
    threshold: { type: 'string', default: '0.5' },
  },
});

const workers = Number(flags.workers);

if (cluster.isPrimary && workers > 1) {
  let listening = 0;
  for (let i = 0; i < workers; ++i) cluster.fork();
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers && flags['port-file']) writePortFile(address.port);
  });
  cluster.on('exit', (_worker, code) => {
    if (code !== 0) process.exit(code);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      for (const w of Object.values(cluster.workers)) w.kill();
      process.exit(0);
    });
  }
} else {
  await serve();
}

function writePortFile(port) {
  writeFileSync(`${flags['port-file']}.tmp`, `${port}\n`);
  renameSync(`${flags['port-file']}.tmp`, flags['port-file']);
}

async function serve() {
  const session = await ort.InferenceSession.create(flags.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(flags.threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const defaultThreshold = Number(flags.threshold);
  const inferPath = `/v2/models/${flags.name}/infer`;

  const reply = (res, status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  async function infer(request) {
    const feeds = {};
    for (const input of request.inputs) {
      if (input.datatype !== 'FP32') throw new Error(`input ${input.name}: only FP32 is served`);
      feeds[input.name] = new ort.Tensor('float32', Float32Array.from(input.data), input.shape);
    }
    const results = await session.run(feeds);
    const threshold = request.parameters?.decision_threshold ?? defaultThreshold;
    const outputs = [];
    for (const name of session.outputNames) {
      const t = results[name];
      outputs.push({ name, datatype: 'FP32', shape: t.dims, data: Array.from(t.data) });
      if (outputs.length === 1) {
        const decision = Array.from(t.data, (s) => s >= threshold);
        outputs.push({ name: 'decision', datatype: 'BOOL', shape: t.dims, data: decision });
      }
    }
    return { model_name: flags.name, model_version: '1', id: request.id ?? '', outputs };
  }

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v2/health/ready') return reply(res, 200, {});
    if (req.method !== 'POST' || req.url !== inferPath) return reply(res, 404, { error: `no route ${req.url}` });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        reply(res, 200, await infer(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      } catch (e) {
        reply(res, 400, { error: String(e.message ?? e) });
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(flags.port), '127.0.0.1', () => {
    if (workers <= 1 && flags['port-file']) writePortFile(server.address().port);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
}
