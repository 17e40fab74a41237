export { Tensor, DIFFERENTIABLE_OPS, type DifferentiableOp, type GradFn, type Operand } from './tensor.js';
export { grad } from './engine.js';
export { noGrad, withGradMode, isGradEnabled } from './grad-mode.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
