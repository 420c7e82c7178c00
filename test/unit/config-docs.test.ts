// docs/configuration.md against the configuration schema: every key the schema accepts is
// named in the page's tables, and every key the tables name is one the schema accepts.

import { readFileSync } from "node:fs";
import path from "node:path";
import { readdirSync } from "node:fs";
import { expect } from "chai";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { compileConfig } from "../../shared/config/config";
import { CONFIG_SCHEMA_FILE, schemaProblems } from "../../shared/config/config-schema";
import { restoringEnv } from "../support/environment";

const ROOT = path.resolve(__dirname, "..", "..", "..");

type Schema = {
  $ref?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  then?: Schema;
};

/**
 * Every key path the schema accepts (`adapter.xml.maxDepth`, `services.*.reply.wait`), `*` for
 * the names an operator chooses. Translator options and service windows are their own pages'
 * (docs/translators.md, docs/worker-limits.md); `$schema` is for editors.
 */
function schemaKeyPaths(root: Schema & { definitions?: Record<string, Schema> }): string[] {
  const paths: string[] = [];
  const resolve = (node: Schema): Schema =>
    node.$ref ? resolve(root.definitions![node.$ref.replace("#/definitions/", "")]) : node;
  const walk = (node: Schema, prefix: string) => {
    const schema = resolve(node);
    const properties = { ...schema.properties, ...schema.then?.properties };
    for (const [key, child] of Object.entries(properties)) {
      if (key === "$schema") continue;
      const at = prefix ? `${prefix}.${key}` : key;
      paths.push(at);
      if (key === "options" || key === "windows") continue;
      walk(child, at);
    }
    if (!schema.properties && typeof schema.additionalProperties === "object") {
      walk(schema.additionalProperties, `${prefix}.*`);
    }
  };
  walk(root, "");
  return [...new Set(paths)];
}

/** Splits `a: 1, b: [x, y], c` at its top-level commas. */
function topLevelParts(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "[" || char === "{") depth++;
    if (char === "]" || char === "}") depth--;
    if (char === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += char;
  }
  return [...parts, current].map((part) => part.trim()).filter(Boolean);
}

/**
 * The rows of docs/configuration.md's key tables: the cells, and the backticked keys of the
 * first as key paths under the section's prefix (a heading `` `backends.<name>` `` → `backends.*.`).
 */
function* keyRows(markdown: string): Generator<{ keys: string[]; cells: string[] }> {
  let prefix = "";
  for (const line of markdown.split("\n")) {
    const heading = /^## (.*)$/.exec(line);
    if (heading) {
      const name = /`([^`]+)`/.exec(heading[1])?.[1];
      prefix = name ? `${name.replace(/<[^>]+>/g, "*")}.` : "";
      continue;
    }
    if (!line.startsWith("| `")) continue;
    const cells = line.split("|").slice(1, -1);
    yield { keys: [...cells[0].matchAll(/`([^`]+)`/g)].map((m) => prefix + m[1]), cells };
  }
}

/**
 * The key paths docs/configuration.md's tables name: the backticked keys of each row's first
 * column, under the section's prefix, and the keys of a `{ a, b: default }` block elsewhere in
 * the row (`tls` → `{ cert, key, clientCa }`).
 */
function documentedKeyPaths(markdown: string): string[] {
  const paths: string[] = [];
  for (const { keys, cells } of keyRows(markdown)) {
    const rest = cells.slice(1);
    paths.push(...keys);
    // `{ a, b }` lists the row's own keys, `tls: { a, b }` those of its `tls`.
    for (const block of rest.join("|").matchAll(/`(?:([A-Za-z][A-Za-z0-9]*): )?\{([^`]*)\}`/g)) {
      const under = block[1] ? `.${block[1]}` : "";
      for (const part of topLevelParts(block[2])) {
        const name = /^([A-Za-z][A-Za-z0-9]*)\s*(:|$)/.exec(part)?.[1];
        if (name) paths.push(...keys.map((key) => `${key}${under}.${name}`));
      }
    }
  }
  return [...new Set(paths)];
}

type Raw = Record<string, unknown>;
const isObject = (value: unknown): value is Raw =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** `over` laid on `base`, mappings merged key by key. */
function merged(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isObject(value) && isObject(base[key]) ? merged(base[key], value) : value;
  }
  return out;
}

/** The YAML and JSON blocks of a Markdown page, with the line each starts on. */
function codeBlocks(markdown: string): Array<{ line: number; text: string }> {
  return [...markdown.matchAll(/```(?:ya?ml|json)\n([\s\S]*?)```/g)].map((m) => ({
    line: markdown.slice(0, m.index).split("\n").length,
    text: m[1],
  }));
}

/**
 * The defaults docs/configuration.md gives as one plain value (`` `30s` ``, or
 * `` `a` / `b` `` for a pair of keys): key path (`services.*.reply.wait`) → the value as YAML.
 */
function documentedDefaults(markdown: string): Array<{ key: string; value: string }> {
  const defaults: Array<{ key: string; value: string }> = [];
  for (const { keys, cells } of keyRows(markdown)) {
    const values = (cells[1] ?? "").trim().split(" / ");
    if (values.length !== keys.length) continue;
    values.forEach((value, i) => {
      // A formula such as `max(wait, 25s)` is no value to set.
      const plain = /^`([^`(]*)`$/.exec(value.trim());
      if (plain) defaults.push({ key: keys[i], value: plain[1] });
    });
  }
  return defaults;
}

/** `raw` with `value` set at `key` (`*` is the one service or backend of `raw`). */
function withValue(raw: Raw, key: string, value: unknown): Raw {
  const copy = structuredClone(raw);
  let at: Raw = copy;
  const parts = key.split(".");
  for (const part of parts.slice(0, -1)) {
    const name = part === "*" ? Object.keys(at)[0] : part;
    at[name] ??= {};
    at = at[name] as Raw;
  }
  at[parts[parts.length - 1]] = value;
  return copy;
}

/**
 * The ranges docs/configuration.md states (`1 to 16`, `` `partitions` 1 to 256 ``): key path →
 * [minimum, maximum]. A range belongs to the nearest key named before it in the row's text, or
 * to the row's key.
 */
function documentedRanges(markdown: string): Array<{ key: string; range: [number, number] }> {
  const ranges: Array<{ key: string; range: [number, number] }> = [];
  for (const { keys, cells } of keyRows(markdown)) {
    if (keys.length !== 1) continue;
    const text = cells.slice(1).join("|");
    for (const m of text.matchAll(/(\d+) to (\d+)(?=[),;]| \()/g)) {
      const before = [...text.slice(0, m.index).matchAll(/`([A-Za-z]+)`/g)].map((b) => b[1]);
      const sub = before.at(-1);
      ranges.push({
        key: sub ? `${keys[0]}.${sub}` : keys[0],
        range: [Number(m[1]), Number(m[2])],
      });
    }
  }
  return ranges;
}

describe("docs/configuration.md", () => {
  const schema = JSON.parse(readFileSync(CONFIG_SCHEMA_FILE, "utf8")) as Schema;
  const page = readFileSync(path.join(ROOT, "docs", "configuration.md"), "utf8");
  const accepted = schemaKeyPaths(schema);
  const documented = documentedKeyPaths(page);

  it("names every key the schema accepts", () => {
    expect(accepted).to.include.members(["adapter.xml.maxDepth", "services.*.reply.wait"]);
    // A block is named by its keys (`adapter.xml` by `adapter.xml.maxDepth`).
    const named = (key: string) =>
      documented.some((doc) => doc === key || doc.startsWith(`${key}.`));
    expect(accepted.filter((key) => !named(key))).to.deep.equal([]);
  });

  it("names no key the schema refuses", () => {
    expect(documented.filter((key) => !accepted.includes(key))).to.deep.equal([]);
  });

  it("gives the defaults the code fills in", () => {
    const minimal = {
      services: { testQuery: { backend: "legacy" } },
      backends: { legacy: { url: "http://127.0.0.1:8090" } },
    };
    // The environment overrides some of these; the defaults are the file's own.
    const names = ["AMQP_URL", "REDIS_URL", "PORT", "ADMIN_PORT", "ADMIN_HOST", "SLUICE_INSTANCE"];
    restoringEnv(names, () => {
      names.forEach((name) => delete process.env[name]);
      const compiled = (raw: Raw) => ({ ...compileConfig(raw, "/etc/sluice"), instanceId: "" });
      const base = compiled(minimal);
      const defaults = documentedDefaults(page);
      expect(defaults.map((d) => d.key)).to.include.members([
        "retention",
        "admin.port",
        "services.*.reply.wait",
        "backends.*.retry",
        "callbacks.backoff",
      ]);
      const wrong = defaults.filter(({ key, value }) => {
        const explicit = compiled(withValue(minimal, key, parseYaml(value)));
        return JSON.stringify(explicit) !== JSON.stringify(base);
      });
      expect(wrong).to.deep.equal([]);
    });
  });

  it("states the ranges the schema enforces", () => {
    type Node = Schema & { minimum?: number; maximum?: number };
    const root = schema as Node & { definitions: Record<string, Node> };
    const resolve = (node: Node): Node =>
      node.$ref ? resolve(root.definitions[node.$ref.replace("#/definitions/", "")]) : node;
    const at = (key: string): Node | undefined =>
      key.split(".").reduce<Node | undefined>((node, part) => {
        if (!node) return undefined;
        const n = resolve(node);
        const child =
          part === "*"
            ? (n.additionalProperties as Node)
            : (n.properties?.[part] ?? n.then?.properties?.[part]);
        return child && resolve(child);
      }, root);
    const ranges = documentedRanges(page);
    expect(ranges.map((r) => r.key)).to.include.members([
      "callbacks.maxPerTarget",
      "backends.*.ordering.partitions",
      "backends.*.retry.attempts",
    ]);
    const wrong = ranges.filter(({ key, range }) => {
      const node = at(key);
      return node?.minimum !== range[0] || node?.maximum !== range[1];
    });
    expect(wrong).to.deep.equal([]);
  });

  it("reads keys from a row's first column and from a { … } block in it", () => {
    const rows = [
      "## Top level",
      "| `admin.host` / `admin.port` | x | y |",
      "| `tls` | none | `{ cert, key: file, ca: [a, b] }` then |",
      "| `ss` | none | `{ url }`; `tls: { ca }` as above |",
      "## `backends.<name>`",
      "| `retry` | `{ attempts: 5, backoff: [1s, 5s] }` | z |",
    ].join("\n");
    expect(documentedKeyPaths(rows)).to.deep.equal([
      "admin.host",
      "admin.port",
      "tls",
      "tls.cert",
      "tls.key",
      "tls.ca",
      "ss",
      "ss.url",
      "ss.tls.ca",
      "backends.*.retry",
      "backends.*.retry.attempts",
      "backends.*.retry.backoff",
    ]);
  });
});

/** The TypeScript files of the roles and the command, outside tests. */
function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const at = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(at);
    return entry.name.endsWith(".ts") ? [at] : [];
  });
}

/** Every variable the roles and the command read (`env.NAME`, `envInt("NAME", …)`). */
function variablesRead(): Set<string> {
  const read = new Set<string>();
  const dirs = ["adapter", "worker", "response-worker", "shared", "cli", "legacy-sim"];
  for (const file of dirs.flatMap(sourceFiles)) {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    for (const m of text.matchAll(/\benv\.([A-Z][A-Z0-9_]+)\b/g)) read.add(m[1]);
    // Ports are read by name: envInt("PORT", …).
    for (const m of text.matchAll(/\benvInt\("([A-Z][A-Z0-9_]+)"/g)) read.add(m[1]);
    // Secrets by name too, each also from the file NAME_FILE names: readEnvSecret("AMQP_URL", …).
    for (const m of text.matchAll(/\breadEnvSecret\("([A-Z][A-Z0-9_]+)"/g)) {
      read.add(m[1]).add(`${m[1]}_FILE`);
    }
  }
  return read;
}

/** The variables deploy/ sets for Sluice's own containers (Compose services and Kubernetes pods). */
function variablesDeployed(): string[] {
  const set: string[] = [];
  const compose = parseYaml(readFileSync(path.join(ROOT, "deploy", "docker-compose.yml"), "utf8"), {
    merge: true,
  }) as { services: Record<string, { image?: string; environment?: Raw }> };
  for (const [name, service] of Object.entries(compose.services)) {
    if (!service.image?.startsWith("sluice")) continue;
    set.push(...Object.keys(service.environment ?? {}).map((v) => `compose ${name}: ${v}`));
  }
  const k8s = path.join(ROOT, "deploy", "k8s");
  for (const file of readdirSync(k8s).filter((name) => name.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(path.join(k8s, file), "utf8"))) {
      const containers = (doc.toJSON() as { spec?: { template?: { spec?: { containers?: [] } } } })
        ?.spec?.template?.spec?.containers;
      for (const c of (containers ?? []) as Array<{
        image: string;
        env?: Array<{ name: string }>;
      }>) {
        if (!c.image.startsWith("sluice")) continue;
        set.push(...(c.env ?? []).map((v) => `k8s ${file}: ${v.name}`));
      }
    }
  }
  return set;
}

describe("environment variables", () => {
  it("every one the code reads is named in docs/configuration.md", () => {
    const page = readFileSync(path.join(ROOT, "docs", "configuration.md"), "utf8");
    const read = variablesRead();
    expect([...read]).to.include.members([
      "AMQP_URL",
      "PORT",
      "SLUICE_LEASE_TIME",
      "OTEL_SDK_DISABLED",
    ]);
    expect([...read].filter((name) => !page.includes(`\`${name}`))).to.deep.equal([]);
  });

  it("every one deploy/ sets for Sluice is read by the code or by the configuration it mounts", () => {
    const read = variablesRead();
    // `${NAME}` in a configuration file is filled from the environment (substituteEnv).
    const configs = [
      readFileSync(path.join(ROOT, "config", "demo.yaml"), "utf8"),
      readFileSync(path.join(ROOT, "deploy", "k8s", "configmap.yaml"), "utf8"),
      // xroad-sim's own file fills `${NAME}` the same way (loadSimConfig).
      readFileSync(path.join(ROOT, "config", "xroad-sim.yaml"), "utf8"),
    ];
    for (const text of configs) {
      for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) read.add(m[1]);
    }
    const deployed = variablesDeployed();
    expect(deployed).to.include("compose sluice-adapter: AMQP_URL");
    expect(deployed.filter((entry) => !read.has(entry.split(": ")[1]))).to.deep.equal([]);
  });
});

describe("configuration examples in the docs", () => {
  const schema = JSON.parse(readFileSync(CONFIG_SCHEMA_FILE, "utf8")) as { properties: Raw };
  const topLevel = Object.keys(schema.properties);
  // A fragment (one backend's windows) is checked inside a configuration that needs nothing else.
  const minimal = {
    services: { testQuery: { backend: "legacy" } },
    backends: { legacy: { url: "http://127.0.0.1:8090" } },
  };
  const pages = [
    "README.md",
    ...readdirSync(path.join(ROOT, "docs"))
      .filter((name) => name.endsWith(".md"))
      .map((name) => `docs/${name}`),
  ];

  it("are accepted by the schema, as written", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const page of pages) {
      for (const block of codeBlocks(readFileSync(path.join(ROOT, page), "utf8"))) {
        const raw: unknown = parseYaml(block.text);
        // Other YAML or JSON (a log line, xroad-sim's own file, an answer) is mostly keys that
        // are not Sluice's; an example with a misspelt key still has half of them right.
        if (!isObject(raw)) continue;
        const keys = Object.keys(raw);
        if (keys.filter((key) => topLevel.includes(key)).length * 2 < keys.length) continue;
        checked++;
        for (const line of schemaProblems(merged(minimal, raw))) {
          problems.push(`${page}:${block.line}: ${line}`);
        }
      }
    }
    expect(checked).to.be.greaterThan(5);
    expect(problems).to.deep.equal([]);
  });
});
