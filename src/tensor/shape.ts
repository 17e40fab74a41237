/** Shape and stride arithmetic shared by every backend and the tensor front end. */

export type Shape = readonly number[];

/** Number of elements of a shape (1 for a scalar, 0 if any axis is 0). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a contiguous array of this shape. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** True when the view walks its storage in row-major order without gaps (size-1 axes ignored). */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (strides[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Checks a shape is a list of non-negative integers. */
export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${op}: invalid shape ${fmtShape(shape)} (axes must be non-negative integers)`);
    }
  }
}

/** NumPy broadcasting: align from the right; axes must be equal or 1. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  // Equal shapes, the common case of elementwise ops: the answer without the general walk.
  if (shapes.length === 2 && shapesEqual(shapes[0], shapes[1])) return shapes[0].slice();
  let rank = 0;
  for (const s of shapes) rank = Math.max(rank, s.length);
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i];
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) {
        throw new RangeError(
          `${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together (axis ${o - rank}: ${out[o]} vs ${d})`,
        );
      }
    }
  }
  return out;
}

/** Normalises a possibly negative axis; throws naming the op and shape when out of range. */
export function normAxis(op: string, axis: number, rank: number, shape?: Shape): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    const where = shape ? ` for shape ${fmtShape(shape)}` : ` for rank ${rank}`;
    throw new RangeError(`${op}: axis ${axis} is out of range${where}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalises a list of axes (undefined = all), sorted and without duplicates. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, shape: Shape): number[] {
  if (axes === undefined) return shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => normAxis(op, a, shape.length, shape));
  const sorted = [...new Set(out)].sort((a, b) => a - b);
  if (sorted.length !== out.length) throw new RangeError(`${op}: repeated axis in [${list.join(', ')}]`);
  return sorted;
}
