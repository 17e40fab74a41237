// Browser stand-in for Node's `node:path`: see node-fs.js — imported by the file helpers, never called here.
export {};
