/**
 * calm-ts: a tensor and autograd engine in TypeScript with gpu.js kernels, and CALM on top of it.
 *
 * Layers, each importing only from those before it: `tensor` (arrays, views, backends, RNG),
 * `autograd` (differentiable Tensor, backward engine, gradcheck), `nn` (modules, optimisers, data,
 * I/O), `calm` (the CALM method).
 * @packageDocumentation
 */
export * from './tensor/index.js';
export * from './autograd/index.js';
export * as nn from './nn/index.js';
export * as calm from './calm/index.js';
