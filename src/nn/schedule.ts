/**
 * Learning-rate schedules. A schedule maps the 0-based index of the optimiser step about to be
 * taken to its learning rate.
 */

export type LrSchedule = (step: number) => number;

/** The same rate at every step (the reference scripts' effective schedule, CALM.md §8.1). */
export function constantSchedule(lr: number): LrSchedule {
  return () => lr;
}

/** Linear warmup lr·(step+1)/warmupSteps for the first `warmupSteps` steps, then `lr`. */
export function warmupConstantSchedule(lr: number, warmupSteps: number): LrSchedule {
  checkSteps('warmupConstantSchedule', warmupSteps);
  return (step) => (step < warmupSteps ? (lr * (step + 1)) / warmupSteps : lr);
}

/**
 * Linear warmup as in {@link warmupConstantSchedule}, then cosine decay from `lr` at step
 * `warmupSteps` to `minLr` at step `totalSteps`, and `minLr` after that.
 */
export function warmupCosineSchedule(options: { lr: number; warmupSteps: number; totalSteps: number; minLr?: number }): LrSchedule {
  const { lr, warmupSteps, totalSteps } = options;
  const minLr = options.minLr ?? 0;
  checkSteps('warmupCosineSchedule', warmupSteps);
  if (!(totalSteps > warmupSteps)) throw new RangeError(`warmupCosineSchedule: totalSteps ${totalSteps} must exceed warmupSteps ${warmupSteps}`);
  return (step) => {
    if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
    const progress = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
  };
}

function checkSteps(op: string, warmupSteps: number): void {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new RangeError(`${op}: warmupSteps must be a non-negative integer, got ${warmupSteps}`);
}
