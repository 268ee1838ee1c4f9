// Minimal .npy reader for the benchmark inputs (little-endian float32, C order):
// Node has no numpy, and the ORT runner must see the very bytes Peregrine and PyTorch read.
import { readFileSync } from 'node:fs';

export function readNpyFloat32(path) {
  const buf = readFileSync(path);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not an .npy file`);
  const major = buf[6];
  // Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4.
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 + headerLen : 12 + headerLen;
  const header = buf.toString('latin1', start - headerLen, start);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${path}: expected little-endian float32, header ${header}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order is not supported`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  // Copy into a fresh, aligned buffer: the Buffer's offset inside Node's pool may not be 4-aligned.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(buf.subarray(start, start + count * 4));
  return { data, shape };
}
