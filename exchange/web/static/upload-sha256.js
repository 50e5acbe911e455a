/* SHA-256 of a file in the browser, for the upload page (upload.js): the upload service records the
   checksum and ingest verifies it. Streamed, 4 MiB at a time: crypto.subtle.digest needs the whole
   file in memory and exists only in secure contexts (https or localhost), this runs anywhere.
   The constants are FIPS 180-4's. */
"use strict";

const SHA_K = new Uint32Array([0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
const SHA_H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

class Sha256 {
  constructor() {
    this.h = Uint32Array.from(SHA_H);
    this.w = new Uint32Array(64);
    this.buffer = new Uint8Array(64);
    this.buffered = 0;
    this.length = 0;
  }

  update(data) {
    let i = 0;
    this.length += data.length;
    if (this.buffered) {
      const n = Math.min(64 - this.buffered, data.length);
      this.buffer.set(data.subarray(0, n), this.buffered);
      this.buffered += n;
      i = n;
      if (this.buffered < 64) return;
      this.block(this.buffer, 0);
      this.buffered = 0;
    }
    for (; i + 64 <= data.length; i += 64) this.block(data, i);
    if (i < data.length) {
      this.buffer.set(data.subarray(i), 0);
      this.buffered = data.length - i;
    }
  }

  block(d, o) {
    const w = this.w, h = this.h;
    for (let t = 0; t < 16; t++) {
      const p = o + 4 * t;
      w[t] = (d[p] << 24) | (d[p + 1] << 16) | (d[p + 2] << 8) | d[p + 3];
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15], y = w[t - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    let a = h[0], b = h[1], c = h[2], e = h[4], f = h[5], g = h[6], k = h[7], dd = h[3];
    for (let t = 0; t < 64; t++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (k + s1 + ((e & f) ^ (~e & g)) + SHA_K[t] + w[t]) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += dd; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
  }

  hex() {
    const bits = this.length * 8;
    const tail = new Uint8Array(((this.buffered + 9 + 63) >> 6) << 6);
    tail.set(this.buffer.subarray(0, this.buffered));
    tail[this.buffered] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 4294967296));
    view.setUint32(tail.length - 4, bits >>> 0);
    for (let i = 0; i < tail.length; i += 64) this.block(tail, i);
    return Array.from(this.h, (v) => v.toString(16).padStart(8, "0")).join("");
  }
}

const HASH_CHUNK = 4 * 1024 * 1024;

async function sha256OfFile(file, onProgress) {
  const sha = new Sha256();
  for (let offset = 0; offset < file.size; offset += HASH_CHUNK) {
    sha.update(new Uint8Array(await file.slice(offset, offset + HASH_CHUNK).arrayBuffer()));
    onProgress(Math.min(file.size, offset + HASH_CHUNK));
  }
  return sha.hex();
}

if (typeof module !== "undefined") module.exports = { Sha256 };  // for a check of the hash under Node
