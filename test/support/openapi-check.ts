// Checks OpenAPI documents with a maintained validator (the OpenAPI Initiative's JSON Schemas
// for 3.0 and 3.1); the package is an ES module, loaded with a dynamic import.

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
}
