// Checks Kubernetes manifests against the API's own schemas: the OpenAPI schemas of Kubernetes
// and KEDA's CRDs, compiled with ajv in the kubernetes-models packages, one model per kind.
// Strict as `kubeconform -strict` and the API server's strict field validation: a field the
// schema does not know is refused, not silently dropped (a misspelt `seccompProfile` would be).

type Doc = Record<string, unknown>;

interface ModelClass {
  prototype: { validate(): void };
}

/** The package path of a kind's model: core kinds under `v1`, KEDA's under its own package. */
function modulePath(apiVersion: string, kind: string): string | null {
  if (!/^[a-z0-9.]*\/?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind))
    return null;
  if (apiVersion.startsWith("keda.sh/")) return `@kubernetes-models/keda/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function modelOf(apiVersion: string, kind: string): ModelClass | null {
  const path = modulePath(apiVersion, kind);
  if (!path) return null;
  try {
    return ((require(path) as Record<string, ModelClass>)[kind] ?? null) as ModelClass | null;
  } catch {
    return null;
  }
}

/** What the schema's validator did with one object of the manifest. */
interface Visit {
  path: string;
  keys: string[];
  read: Set<string>;
  /** Its keys were listed: a map (labels, data), whose keys are all the schema's business. */
  listed: boolean;
}

/**
 * A copy of the document whose objects record which of their fields the validator looked at.
 * The compiled validators read every property their schema names and list the keys of maps, so
 * a field that was neither read nor listed is one the schema does not have.
 */
function tracked(value: unknown, path: string, visits: Visit[]): unknown {
  if (Array.isArray(value)) return value.map((item, i) => tracked(item, `${path}/${i}`, visits));
  if (value === null || typeof value !== "object") return value;
  const copy = Object.fromEntries(
    Object.entries(value).map(([key, field]) => [key, tracked(field, `${path}/${key}`, visits)]),
  );
  const visit: Visit = { path, keys: Object.keys(copy), read: new Set(), listed: false };
  visits.push(visit);
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") visit.read.add(key);
      return Reflect.get(target, key, receiver) as unknown;
    },
    has(target, key) {
      if (typeof key === "string") visit.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      visit.listed = true;
      return Reflect.ownKeys(target);
    },
  });
}

/** The problems of one manifest object ([] when its schema accepts it). */
export function manifestProblems(doc: Doc): string[] {
  const apiVersion = String(doc.apiVersion ?? "");
  const kind = String(doc.kind ?? "");
  const name = (doc.metadata as { name?: string } | undefined)?.name ?? "(no name)";
  const where = `${kind || "(no kind)"} ${name}`;
  const model = modelOf(apiVersion, kind);
  if (!model) return [`${where}: no schema for apiVersion ${apiVersion || "(none)"} kind ${kind}`];
  const visits: Visit[] = [];
  const subject = tracked(doc, "", visits);
  try {
    model.prototype.validate.call(subject);
  } catch (error) {
    return [`${where}: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  for (const visit of visits) {
    // An object the validator never looked into is free-form in the schema (or under a field
    // already reported as unknown).
    if (visit.listed || visit.read.size === 0) continue;
    for (const key of visit.keys) {
      if (!visit.read.has(key)) problems.push(`${where}: unknown field ${visit.path}/${key}`);
    }
  }
  return problems;
}
