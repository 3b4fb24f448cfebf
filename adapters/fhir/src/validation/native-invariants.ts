import stu3Model from 'fhirpath/fhir-context/stu3/index.js';

/**
 * dom-3 and ref-1 in plain JS. Why: run by the `fhirpath` package they took ≈ 0.3 ms of the
 * ≈ 0.55 ms a booking body's validation took (dom-3's descendants() walk alone ≈ 0.23–0.34 ms,
 * ref-1 ≈ 15–23 µs per Reference; measured by timing each compiled invariant); here dom-3 takes
 * ≈ 30–50 µs and ref-1 ≈ 2 µs. Each gives exactly fhirpath's answer for the published expression
 * (proved against fhirpath by test/native-invariants.test.ts), or `undefined` for a body too odd to
 * answer natively with certainty (non-string ids or resourceTypes, object-valued references, …): the caller then asks
 * fhirpath. The definitions stay the source of truth: base.ts uses a native twin only while the
 * definition's expression is, word for word, the one written here.
 */

/** `true`: the invariant holds (or is empty); `false`: it fails; `undefined`: ask fhirpath. */
export type NativeInvariant = (node: Record<string, unknown>, path: string, resource: unknown) => boolean | undefined;

export const NATIVE_INVARIANTS: Record<string, { expression: string; evaluate: NativeInvariant }> = {
  'dom-3': { expression: "contained.where(('#'+id in %resource.descendants().reference).not()).empty()", evaluate: unlessOdd(dom3) },
  'ref-1': { expression: "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %resource.contained.id.trace('ids'))", evaluate: unlessOdd(ref1) },
};

/** Thrown where a body is too odd to copy fhirpath on (a resourceType that is no string). */
class Unanswerable extends Error {}
function unlessOdd(evaluate: NativeInvariant): NativeInvariant {
  return (node, path, resource) => {
    try {
      return evaluate(node, path, resource);
    } catch (error) {
      if (error instanceof Unanswerable) return undefined;
      throw error;
    }
  };
}

function dom3(node: Record<string, unknown>, path: string, resource: unknown): boolean | undefined {
  const targets = new Set<string>();
  for (const contained of member(fpNode(node, path), 'contained')) {
    const id = member(contained, 'id');
    if (id.length === 0) continue; // '#' + {} is empty: where() drops the contained resource
    if (id.length > 1 || typeof id[0]?.data !== 'string') return undefined;
    targets.add(`#${id[0].data}`);
  }
  if (targets.size === 0) return true;
  // Every target found: fhirpath's `in` is true for each (or throws: no finding either), so stop there.
  let objectValued = false;
  const found = eachDescendantReference(resource, (value) => {
    if (typeof value === 'string') targets.delete(value);
    else if (typeof value === 'object' && value !== null) objectValued = true; // numbers, booleans, nulls never equal a string
    return targets.size === 0;
  });
  if (found) return true;
  return objectValued ? undefined : false; // fhirpath's deep equality of a string and an object: not ours to copy
}

function ref1(node: Record<string, unknown>, _path: string, resource: unknown): boolean | undefined {
  const reference = member(fpNode(node, 'Reference'), 'reference');
  if (reference.length === 0) return true; // empty, no finding
  const value = reference[0]?.data;
  if (reference.length > 1 || typeof value !== 'string') return undefined;
  if (!value.startsWith('#')) return true;
  if (value.length === 1) return true; // '#'.substring(1) is empty: `false or {}` is empty, no finding
  const wanted = value.slice(1);
  for (const contained of member(fpNode(resource, undefined), 'contained')) {
    for (const id of member(contained, 'id')) {
      if (id.data === wanted) return true;
      if (typeof id.data === 'object' && id.data !== null) return undefined;
    }
  }
  return false;
}

// --- A copy of how fhirpath (4.x, src/navigation.js children() and utilities.js makeChildResNodes)
// --- builds its nodes over FHIR JSON, including primitive extensions (`_x`) and choice types.

interface FpNode {
  data: unknown;
  /** The matching `_x` member (fhirpath's `_data`). */
  extra: unknown;
  path: unknown;
}

interface Model {
  choiceTypePaths: Record<string, string[] | undefined>;
  pathsDefinedElsewhere: Record<string, string | undefined>;
  path2TypeWithoutElements: Record<string, string | undefined>;
}
const model = stu3Model as unknown as Model;

type Loose = Record<string, unknown> | undefined;

function fpNode(data: unknown, path: unknown, extra?: unknown): FpNode {
  const resourceType = (data as Loose)?.resourceType;
  // fhirpath makes a path of any resourceType, even { "toString": 1 } (and then throws building
  // "path.name" from it): only a string path is answered here, the rest is fhirpath's.
  if (resourceType && typeof resourceType !== 'string') throw new Unanswerable();
  return { data, extra: extra || {}, path: (resourceType ? resourceType : path) || null };
}

const isEmpty = (x: unknown) => x === null || x === undefined || (Array.isArray(x) && x.length === 0);

interface ChildPath {
  /** After pathsDefinedElsewhere. */
  path: string;
  choiceTypes: string[] | undefined;
  /** The node's path when it is no choice. */
  plain: string;
  underscored: string;
}
// The model look-ups of a member, by parent path and name (bounded: names come from request bodies).
const childPaths = new Map<string, ChildPath>();
function childPathOf(parentPath: unknown, name: string): ChildPath {
  const key = `${parentPath}.${name}`;
  let info = childPaths.get(key);
  if (!info) {
    const path = model.pathsDefinedElsewhere[key] || key;
    const plain = name === 'extension' ? 'Extension' : path;
    info = { path, choiceTypes: model.choiceTypePaths[path], plain: model.path2TypeWithoutElements[plain] || plain, underscored: `_${name}` };
    if (childPaths.size > 10_000) childPaths.clear();
    childPaths.set(key, info);
  }
  return info;
}

/** The nodes of member `name` of a node (fhirpath's makeChildResNodes), added to `out`. */
function member(parent: FpNode, name: string, out: FpNode[] = []): FpNode[] {
  const data = parent.data as Loose; // property reads on a primitive work as in fhirpath (`data?.[name]`)
  let childPath: string | null = null;
  let toAdd: unknown;
  let extraToAdd: unknown;
  const info = parent.path ? childPathOf(parent.path, name) : undefined;
  if (info?.choiceTypes) {
    childPath = info.path;
    for (const type of info.choiceTypes) {
      toAdd = data?.[name + type];
      extraToAdd = data?.[`_${name}${type}`];
      if (toAdd !== undefined || extraToAdd !== undefined) {
        childPath += type;
        break;
      }
    }
    childPath = model.path2TypeWithoutElements[childPath] || childPath;
  } else {
    toAdd = data?.[name];
    extraToAdd = data?.[info ? info.underscored : `_${name}`];
    if (toAdd === undefined && extraToAdd === undefined) toAdd = (parent.extra as Record<string, unknown>)[name];
    if (info) childPath = info.plain;
  }
  if (isEmpty(toAdd) && isEmpty(extraToAdd)) return out;
  const extras = extraToAdd as { length?: number; [i: number]: unknown } | undefined;
  if (Array.isArray(toAdd)) {
    for (let i = 0; i < toAdd.length; ++i) out.push(fpNode(toAdd[i], childPath, extras?.[i]));
    const extraLength = extras?.length || 0;
    for (let i = toAdd.length; i < extraLength; ++i) out.push(fpNode(null, childPath, extras?.[i]));
  } else if ((toAdd === null || toAdd === undefined) && Array.isArray(extraToAdd)) {
    for (const x of extraToAdd) out.push(fpNode(null, childPath, x));
  } else {
    out.push(fpNode(toAdd, childPath, extraToAdd));
  }
  return out;
}

/** fhirpath's children(), added to `out`. */
function children(node: FpNode, out: FpNode[]): void {
  const { data, extra } = node;
  if (typeof data === 'number') return; // fhirpath holds numbers as FP_Decimal: no children
  if (typeof data === 'object' && data !== null) {
    for (const prop in data) {
      if (prop.startsWith('_')) {
        const name = prop.slice(1);
        if (!Object.hasOwn(data, name)) member(node, name, out);
      } else if (prop !== 'resourceType') {
        member(node, prop, out);
      }
    }
  } else if (typeof extra === 'object' && extra !== null) {
    for (const prop in extra) member(node, prop, out);
  }
}

/** Each value of `%resource.descendants().reference`, level by level, until `stop` says so (then true). */
function eachDescendantReference(resource: unknown, stop: (value: unknown) => boolean): boolean {
  const references: FpNode[] = [];
  let level: FpNode[] = [];
  children(fpNode(resource, undefined), level);
  while (level.length > 0) {
    const next: FpNode[] = [];
    for (const node of level) {
      references.length = 0;
      for (const reference of member(node, 'reference', references)) if (stop(reference.data)) return true;
      children(node, next);
    }
    level = next;
  }
  return false;
}
