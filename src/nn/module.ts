/**
 * `Module`: a parameter registry found by walking attributes (PyTorch's `nn.Module`).
 *
 * A module's own enumerable properties are inspected in insertion order:
 * - a {@link Parameter}, or any Tensor that requires gradients, is a parameter;
 * - a Module is a submodule (its parameters get the dotted prefix `name.`);
 * - an array holding Modules or parameters gives indexed names: `layers.0.attn.wq.weight`.
 * Everything else (numbers, caches, constant tensors such as RoPE tables) is ignored.
 *
 * Loading a state dict writes new values into the existing parameter objects (see
 * {@link assignData}), so optimisers holding references to them keep working after a load.
 */
import { Tensor } from '../autograd/tensor.js';
import type { DType, TypedArray } from '../tensor/dtype.js';
import { keep } from '../tensor/memory.js';
import { NDArray } from '../tensor/ndarray.js';
import { fmtShape, shapesEqual } from '../tensor/shape.js';
import type { NamedArray } from './io/safetensors.js';

/** A trainable tensor: always a leaf, requires gradients unless frozen with `requireGrad(false)`. */
export class Parameter extends Tensor {
  constructor(data: NDArray) {
    super(data, true);
  }

  /** Replaces this parameter's values in place (same shape and dtype). */
  assign(data: NDArray): void {
    assignData(this, data);
  }
}

/**
 * Replaces the values of a leaf tensor, keeping the object (and every reference to it). This is the
 * one place where `Tensor.data` (readonly to everyone else) is written: parameters change between
 * steps, graphs do not, so only leaves outside a pending backward pass may be updated.
 */
export function assignData(t: Tensor, data: NDArray): void {
  if (!t.isLeaf) throw new Error(`assignData: ${t.toString()} is not a leaf (it was computed by ${t.gradFn?.op})`);
  if (!shapesEqual(t.shape, data.shape) || t.dtype !== data.dtype) {
    throw new RangeError(`assignData: cannot assign ${data.dtype} ${fmtShape(data.shape)} to ${t.dtype} ${fmtShape(t.shape)}`);
  }
  (t as unknown as { data: NDArray }).data = data;
  keep(data); // parameter values outlive any memoryScope they were computed in
}

/** Whether a property value counts as a parameter. */
function isParameter(value: unknown): value is Tensor {
  return value instanceof Parameter || (value instanceof Tensor && value.requiresGrad && value.isLeaf);
}

/** A value accepted by {@link Module.loadStateDict}: a tensor or plain `{dtype, shape, data}`. */
export type StateValue = Tensor | NamedArray;

export interface LoadStateDictResult {
  /** Parameters of the module that the dict lacked (only when not strict). */
  missing: string[];
  /** Keys of the dict that name no parameter (only when not strict). */
  unexpected: string[];
}

export abstract class Module {
  /** Training mode (dropout active). Set through {@link train} / {@link eval}. */
  training = true;

  /** Direct children as `[name, module]`, arrays giving `name.i`. */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value)) {
        value.forEach((item: unknown, i) => {
          if (item instanceof Module) out.push([`${key}.${i}`, item]);
        });
      }
    }
    return out;
  }

  /** This module and every descendant with its dotted path ('' for this one), each listed once. */
  namedModules(prefix = '', seen: Set<Module> = new Set()): [string, Module][] {
    if (seen.has(this)) return [];
    seen.add(this);
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(join(prefix, name), seen));
    return out;
  }

  /**
   * Every parameter with its dotted name, in attribute order. A tensor shared by two modules (tied
   * weights) is listed once, under its first name.
   */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const add = (name: string, t: Tensor): void => {
      if (seen.has(t)) return;
      seen.add(t);
      out.push([name, t]);
    };
    for (const [prefix, mod] of this.namedModules()) {
      for (const [key, value] of Object.entries(mod)) {
        if (isParameter(value)) add(join(prefix, key), value);
        else if (Array.isArray(value)) {
          value.forEach((item: unknown, i) => {
            if (isParameter(item)) add(join(prefix, `${key}.${i}`), item);
          });
        }
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Total number of scalar parameters. */
  numParameters(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  /** Sets training mode here and in every submodule; returns this. */
  train(on = true): this {
    for (const [, mod] of this.namedModules()) mod.training = on;
    return this;
  }

  /** Evaluation mode (dropout off); returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * The parameters by dotted name, detached (they share storage with the parameters). Each is a view
   * with its own reference on the storage, so it stays valid after an optimiser step disposes the
   * parameter's previous array.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, t] of this.namedParameters()) out[name] = new Tensor(t.data.reshape(t.shape), false);
    return out;
  }

  /**
   * Copies values into the parameters. Shapes must match exactly; values are cast to each
   * parameter's dtype. With `strict` (default), any missing or unexpected key is an error naming
   * all of them; otherwise they are returned.
   */
  loadStateDict(dict: Readonly<Record<string, StateValue>>, options: { strict?: boolean } = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const params = new Map(this.namedParameters());
    const missing = [...params.keys()].filter((k) => !Object.hasOwn(dict, k));
    const unexpected = Object.keys(dict).filter((k) => !params.has(k));
    const misShaped: string[] = [];
    for (const [name, p] of params) {
      if (!Object.hasOwn(dict, name)) continue;
      const shape = dict[name].shape;
      if (!shapesEqual(shape, p.shape)) misShaped.push(`${name}: expected ${fmtShape(p.shape)}, got ${fmtShape(shape)}`);
    }
    const problems: string[] = [];
    if (misShaped.length > 0) problems.push(`shape mismatch for ${misShaped.join('; ')}`);
    if (strict && missing.length > 0) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length > 0) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    if (problems.length > 0) throw new Error(`loadStateDict (${this.constructor.name}): ${problems.join('. ')}`);

    for (const [name, p] of params) {
      if (!Object.hasOwn(dict, name)) continue;
      assignData(p, toNDArray(dict[name], p.dtype, p.data));
    }
    return { missing, unexpected };
  }
}

/** A fresh array with `value`'s contents in `dtype` on the backend of `like`. */
function toNDArray(value: StateValue, dtype: DType, like: NDArray): NDArray {
  const host: TypedArray = value instanceof Tensor ? value.toTypedArray() : value.data;
  return NDArray.fromData(host, value.shape, dtype, like.backend); // upload copies: the dict stays independent
}

function join(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}
