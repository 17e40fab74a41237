export * from './dtype.js';
export * from './shape.js';
export * from './backend.js';
export * from './random.js';
export * from './device.js';
export { NDArray, resolveSlice, type SliceSpec, type ArrayData, type NestedNumbers } from './ndarray.js';
export { CpuBackend } from './cpu/backend.js';
