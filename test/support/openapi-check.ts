// Checks OpenAPI documents with two maintained validators: the OpenAPI Initiative's JSON Schemas
// for 3.0 and 3.1, and Redocly's linter with its recommended rules, which also reads what the
// schemas cannot say (an operation without a summary, no security stated, a component no
// operation uses). Both packages are ES modules, loaded with a dynamic import.

/**
 * Redocly's recommended rules but info-license: the terms of an X-Road service are its
 * provider's, agreed in X-Road, not something Sluice could state for every installation.
 */
const LINT_RULES = {
  "info-license": "off",
} as const;

/** Resolves when `doc` is a valid OpenAPI document; rejects listing what is wrong. */
export async function assertValidOpenApi(doc: unknown): Promise<void> {
  const { Validator } = await import("@seriousme/openapi-schema-validator");
  const result = await new Validator().validate(
    structuredClone(doc) as Parameters<InstanceType<typeof Validator>["validate"]>[0],
  );
  if (!result.valid) {
    throw new Error(
      `invalid OpenAPI document: ${JSON.stringify(result.errors, null, 1).slice(0, 2000)}`,
    );
  }
  const { createConfig, lintFromString } = await import("@redocly/openapi-core");
  const config = await createConfig({ extends: ["recommended"], rules: LINT_RULES });
  const problems = await lintFromString({
    source: JSON.stringify(doc),
    absoluteRef: "/openapi.json",
    config,
  });
  if (problems.length > 0) {
    const lines = problems.map(
      (p) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer ?? "?"}: ${p.message}`,
    );
    throw new Error(`OpenAPI lint: ${lines.join("\n").slice(0, 2000)}`);
  }
}
