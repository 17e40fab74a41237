/**
 * The backward pass: an iterative topological sort of the recorded graph, then each node's
 * vector-Jacobian product in reverse order (micrograd's algorithm, without recursion so a
 * 1000-layer chain cannot overflow the stack). Each node is visited once, so residual graphs
 * cost time linear in their size.
 */
import { fmtShape, shapesEqual } from '../tensor/shape.js';
import { withGradMode } from './grad-mode.js';
import { setProfilePhase } from '../tensor/profile.js';

/**
 * What the engine needs of a node of the recorded graph. `Tensor` (./tensor.ts) is the one
 * implementation; the engine is written against this interface so that it does not import the Tensor
 * class that calls it (no import cycle between the two files).
 */
export interface GraphNode<T extends GraphNode<T>> {
  readonly requiresGrad: boolean;
  readonly isLeaf: boolean;
  readonly retainsGrad: boolean;
  readonly shape: readonly number[];
  readonly size: number;
  grad: T | null;
  /** The op that produced the node, its inputs and its vector-Jacobian product. */
  readonly gradFn: { readonly op: string; readonly inputs: readonly T[]; backward(g: T, needs: readonly boolean[]): readonly (T | null)[] } | null;
  add(other: T): T;
  detach(): T;
  /** Ones of the node's shape, dtype and backend: the default seed of a scalar output. */
  onesLike(): T;
  toString(): string;
}

/** Tensors reachable from `roots` through recorded ops, each after all of its inputs. */
function topologicalOrder<T extends GraphNode<T>>(roots: readonly T[]): T[] {
  const order: T[] = [];
  const visited = new Set<T>();
  const stack: { node: T; next: number }[] = [];
  for (const root of roots) {
    if (visited.has(root)) continue;
    visited.add(root);
    stack.push({ node: root, next: 0 });
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const inputs = top.node.gradFn?.inputs ?? [];
      if (top.next < inputs.length) {
        const child = inputs[top.next++];
        if (child.requiresGrad && !visited.has(child)) {
          visited.add(child);
          stack.push({ node: child, next: 0 });
        }
      } else {
        order.push(top.node);
        stack.pop();
      }
    }
  }
  return order;
}

/**
 * Gradients of `roots` (seeded with `seeds`, default ones for scalars) with respect to every tensor
 * in the graph. With `createGraph`, the backward ops are recorded too.
 */
function propagate<T extends GraphNode<T>>(roots: readonly T[], seeds: readonly T[] | undefined, createGraph: boolean): Map<T, T> {
  const grads = new Map<T, T>();
  roots.forEach((root, i) => {
    if (!root.requiresGrad) {
      throw new Error(`backward: ${root.toString()} does not require gradients (no input of its graph requires them)`);
    }
    let seed = seeds?.[i];
    if (seed === undefined) {
      if (root.size !== 1) {
        throw new Error(`backward: a gradient seed is needed for non-scalar output of shape ${fmtShape(root.shape)}`);
      }
      seed = root.onesLike();
    } else if (!shapesEqual(seed.shape, root.shape)) {
      throw new RangeError(`backward: seed shape ${fmtShape(seed.shape)} differs from output shape ${fmtShape(root.shape)}`);
    }
    const prev = grads.get(root);
    grads.set(root, prev ? withGradMode(createGraph, () => prev.add(seed!)) : seed);
  });

  const order = topologicalOrder(roots);
  const previousPhase = setProfilePhase('backward');
  try {
    propagateInOrder(order, grads, createGraph);
  } finally {
    setProfilePhase(previousPhase);
  }
  return grads;
}

/** The vector-Jacobian products of `order`'s nodes, last to first, summed into `grads`. */
function propagateInOrder<T extends GraphNode<T>>(order: readonly T[], grads: Map<T, T>, createGraph: boolean): void {
  withGradMode(createGraph, () => {
    for (let n = order.length - 1; n >= 0; n--) {
      const node = order[n];
      const fn = node.gradFn;
      const g = grads.get(node);
      if (fn === null || g === undefined) continue;
      // Only inputs that require gradients get one (the check below); rules skip the others' work.
      const inputGrads = fn.backward(g, fn.inputs.map((input) => input.requiresGrad));
      fn.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (gi === null || gi === undefined || !input.requiresGrad) return;
        if (!shapesEqual(gi.shape, input.shape)) {
          throw new Error(`backward of ${fn.op}: gradient shape ${fmtShape(gi.shape)} differs from input shape ${fmtShape(input.shape)}`);
        }
        const prev = grads.get(input);
        grads.set(input, prev ? prev.add(gi) : gi);
      });
    }
  });
}

/** Implements `Tensor.backward`: accumulates into `.grad` of leaves (and of retaining non-leaves). */
export function runBackward<T extends GraphNode<T>>(roots: readonly T[], seeds: readonly T[] | undefined, createGraph: boolean): void {
  const grads = propagate(roots, seeds, createGraph);
  withGradMode(createGraph, () => {
    for (const [t, g] of grads) {
      if (!(t.isLeaf || t.retainsGrad)) continue;
      const value = createGraph ? g : g.detach();
      t.grad = t.grad === null ? value : t.grad.add(value);
    }
  });
}

/**
 * Gradients of `outputs` with respect to `inputs`, returned rather than accumulated (PyTorch's
 * `torch.autograd.grad`). Inputs the outputs do not depend on get null.
 */
export function grad<T extends GraphNode<T>>(
  outputs: T | readonly T[],
  inputs: readonly T[],
  options: { gradOutputs?: readonly T[]; createGraph?: boolean } = {},
): (T | null)[] {
  const outs = Array.isArray(outputs) ? (outputs as readonly T[]) : [outputs as T];
  const createGraph = options.createGraph ?? false;
  const grads = propagate(outs, options.gradOutputs, createGraph);
  return inputs.map((t) => {
    const g = grads.get(t);
    if (g === undefined) return null;
    return createGraph ? g : g.detach();
  });
}
