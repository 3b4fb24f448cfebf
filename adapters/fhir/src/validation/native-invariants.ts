import stu3Model from 'fhirpath/fhir-context/stu3/index.js';

/**
 * dom-3 and ref-1 in plain JS. Why: on a booking body they cost ≈ 0.3 ms of the ≈ 0.55 ms a
 * validation takes when run by the `fhirpath` package (its descendants() walk builds a node per
 * element; measured with scratch-probe/inv2.mts). Each answers exactly what fhirpath answers for the
 * published expression (proved by test/native-invariants.test.ts), or `undefined` for a body too odd
 * to answer natively with certainty (non-string ids, object-valued references, …): the caller then
 * asks fhirpath. The definitions stay the source of truth: base.ts uses a native twin only while the
 * definition's expression is the one written here, word for word.
 */

/** `true`: the invariant holds (or is empty); `false`: it fails; `undefined`: ask fhirpath. */
export type NativeInvariant = (node: Record<string, unknown>, path: string, resource: unknown) => boolean | undefined;

export const NATIVE_INVARIANTS: Record<string, { expression: string; evaluate: NativeInvariant }> = {
  'dom-3': { expression: "contained.where(('#'+id in %resource.descendants().reference).not()).empty()", evaluate: dom3 },
  'ref-1': { expression: "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %resource.contained.id.trace('ids'))", evaluate: ref1 },
};

function dom3(node: Record<string, unknown>, path: string, resource: unknown): boolean | undefined {
  const targets: string[] = [];
  for (const contained of member(fpNode(node, path), 'contained')) {
    const id = member(contained, 'id');
    if (id.length === 0) continue; // '#' + {} is empty: where() drops the contained resource
    if (id.length > 1 || typeof id[0]?.data !== 'string') return undefined;
    targets.push(`#${id[0].data}`);
  }
  if (targets.length === 0) return true;
  const references = new Set<string>();
  for (const value of descendantReferences(resource)) {
    if (typeof value === 'string') references.add(value);
    else if (typeof value === 'object' && value !== null) return undefined; // fhirpath's deep equality: not ours to copy
    // numbers, booleans, nulls never equal a string
  }
  return targets.every((target) => references.has(target));
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
  return { data, extra: extra || {}, path: (resourceType ? resourceType : path) || null };
}

const isEmpty = (x: unknown) => x === null || x === undefined || (Array.isArray(x) && x.length === 0);

/** The nodes of member `name` of a node. */
function member(parent: FpNode, name: string): FpNode[] {
  const data = parent.data === null || parent.data === undefined ? undefined : Object(parent.data);
  let childPath: string | null = null;
  let toAdd: unknown;
  let extraToAdd: unknown;
  if (parent.path) {
    childPath = `${parent.path}.${name}`;
    childPath = model.pathsDefinedElsewhere[childPath] || childPath;
    const actualTypes = model.choiceTypePaths[childPath];
    if (actualTypes) {
      for (const type of actualTypes) {
        toAdd = data?.[name + type];
        extraToAdd = data?.[`_${name}${type}`];
        if (toAdd !== undefined || extraToAdd !== undefined) {
          childPath += type;
          break;
        }
      }
    } else {
      toAdd = data?.[name];
      extraToAdd = data?.[`_${name}`];
      if (toAdd === undefined && extraToAdd === undefined) toAdd = Object(parent.extra)[name];
      if (name === 'extension') childPath = 'Extension';
    }
    childPath = model.path2TypeWithoutElements[childPath] || childPath;
  } else {
    toAdd = data?.[name];
    extraToAdd = data?.[`_${name}`];
    if (toAdd === undefined && extraToAdd === undefined) toAdd = Object(parent.extra)[name];
  }
  if (isEmpty(toAdd) && isEmpty(extraToAdd)) return [];
  const extras = extraToAdd as { length?: number; [i: number]: unknown } | undefined;
  if (Array.isArray(toAdd)) {
    const result = toAdd.map((x, i) => fpNode(x, childPath, extras?.[i]));
    const extraLength = extras?.length || 0;
    for (let i = toAdd.length; i < extraLength; ++i) result.push(fpNode(null, childPath, extras?.[i]));
    return result;
  }
  if ((toAdd === null || toAdd === undefined) && Array.isArray(extraToAdd)) return extraToAdd.map((x) => fpNode(null, childPath, x));
  return [fpNode(toAdd, childPath, extraToAdd)];
}

function children(node: FpNode): FpNode[] {
  const result: FpNode[] = [];
  const { data, extra } = node;
  if (typeof data === 'number') return result; // fhirpath holds numbers as FP_Decimal: no children
  if (typeof data === 'object' && data !== null) {
    for (const prop in data) {
      if (prop.startsWith('_')) {
        const name = prop.slice(1);
        if (!Object.hasOwn(data, name)) result.push(...member(node, name));
      } else if (prop !== 'resourceType') {
        result.push(...member(node, prop));
      }
    }
  } else if (typeof extra === 'object' && extra !== null) {
    for (const prop in extra) result.push(...member(node, prop));
  }
  return result;
}

/** The values of `%resource.descendants().reference`. */
function descendantReferences(resource: unknown): unknown[] {
  const values: unknown[] = [];
  let level = children(fpNode(resource, undefined));
  while (level.length > 0) {
    const next: FpNode[] = [];
    for (const node of level) {
      for (const reference of member(node, 'reference')) values.push(reference.data);
      next.push(...children(node));
    }
    level = next;
  }
  return values;
}
