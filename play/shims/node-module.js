// Browser stand-in for Node's `node:module`: the gpu.js engine imports createRequire for its Node-only
// path (loading gpu.js and Dawn from node_modules). In the browser that path is never taken — the
// browser worker passes gpu.js's browser build in — so calling it is an error that says why.
export function createRequire() {
  return (name) => {
    throw new Error(`require('${name}') is not available in the browser (node:module shim, play/shims/node-module.js)`);
  };
}
