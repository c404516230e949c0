/**
 * Whether a value survives a checkpoint as itself: V8's serialisation keeps primitives, arrays,
 * plain objects, typed arrays, Maps, Sets, Dates and RegExps, but turns a class instance into a
 * plain object (its methods gone) and fails on functions and symbols. A stage that saves a user's
 * value (scan's accumulator) asks this first, so that `checkpoint()` refuses with a reason instead
 * of a restored run calling a method that is no longer there.
 */

/** Why `value` is not plain data (a path and what is there), or undefined when it is. Walks at most `budget` nodes. */
export function plainDataProblem(value: unknown, path = 'the value', budget = { left: 100_000 }, seen = new Set<object>()): string | undefined {
  if (value === null || value === undefined) return undefined;
  switch (typeof value) {
    case 'number':
    case 'string':
    case 'boolean':
    case 'bigint':
      return undefined;
    case 'function':
      return `${path} is a function`;
    case 'symbol':
      return `${path} is a symbol`;
  }
  const object = value as object;
  if (seen.has(object)) return undefined;
  seen.add(object);
  if (--budget.left < 0) return undefined;
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer || object instanceof Date || object instanceof RegExp) return undefined;
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const problem = plainDataProblem(object[i], `${path}[${i}]`, budget, seen);
      if (problem) return problem;
    }
    return undefined;
  }
  if (object instanceof Map) {
    for (const [k, v] of object) {
      const problem = plainDataProblem(k, `a key of ${path}`, budget, seen) ?? plainDataProblem(v, `${path}.get(${String(k)})`, budget, seen);
      if (problem) return problem;
    }
    return undefined;
  }
  if (object instanceof Set) {
    for (const v of object) {
      const problem = plainDataProblem(v, `a member of ${path}`, budget, seen);
      if (problem) return problem;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(object) as object | null;
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'an object with a prototype';
    return `${path} is a ${name} instance (a class instance comes back as a plain object, without its methods)`;
  }
  for (const key of Object.keys(object)) {
    const problem = plainDataProblem((object as Record<string, unknown>)[key], `${path}.${key}`, budget, seen);
    if (problem) return problem;
  }
  return undefined;
}

/** Whether keys compared by identity (`===`, a Set's membership) would still match after a restore: primitives only. */
export function identityProblem(value: unknown, what: string): string | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  return `${what} is an object, compared by identity, which a restored copy never matches`;
}
