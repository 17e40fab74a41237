// Browser stand-in for Node's `node:fs`: src/nn/io/safetensors.ts imports the file helpers of
// src/nn/io/atomic.ts next to its pure encoder/decoder. The playground uses only the decoder (the
// checkpoint arrives by fetch), so nothing here is ever called; an empty namespace is enough.
export {};
