// The request bodies every benchmark run sends: a ~500-byte JSON record with its JSON Schema,
// and the X-Road SOAP simple.query envelope. Baselines and Sluice get byte-identical bodies.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** A realistic registry lookup, about 500 bytes once serialised. */
export const JSON_BODY = JSON.stringify({
  requestId: "7f3c2a9e-1b4d-4c8e-9a6f-2d5e8b1c3f70",
  subject: {
    personalCode: "EE37702211234",
    givenName: "Mari-Liis",
    familyName: "Tamm",
    birthDate: "1977-02-21",
    address: { street: "Lossi plats 1a", city: "Tallinn", postalCode: "15165", country: "EE" },
  },
  purpose: "benefit-eligibility",
  requestedFields: ["residence", "income", "household", "disability", "pension"],
  period: { from: "2025-01-01", to: "2025-12-31" },
  consent: { given: true, reference: "CONSENT-2025-000417", channel: "portal" },
  priority: 3,
  note: "Annual re-check of eligibility.",
});

/** JSON Schema the adapter validates JSON_BODY against (types, required fields, formats). */
export const JSON_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  type: "object",
  required: ["requestId", "subject", "purpose", "period"],
  additionalProperties: false,
  properties: {
    requestId: { type: "string", format: "uuid" },
    subject: {
      type: "object",
      required: ["personalCode", "givenName", "familyName", "birthDate"],
      properties: {
        personalCode: { type: "string", pattern: "^[A-Z]{2}[0-9]{11}$" },
        givenName: { type: "string", maxLength: 100 },
        familyName: { type: "string", maxLength: 100 },
        birthDate: { type: "string", format: "date" },
        address: {
          type: "object",
          properties: {
            street: { type: "string" },
            city: { type: "string" },
            postalCode: { type: "string", pattern: "^[0-9]{5}$" },
            country: { type: "string", minLength: 2, maxLength: 2 },
          },
        },
      },
    },
    purpose: { type: "string", enum: ["benefit-eligibility", "audit", "statistics"] },
    requestedFields: { type: "array", items: { type: "string" }, maxItems: 20 },
    period: {
      type: "object",
      required: ["from", "to"],
      properties: {
        from: { type: "string", format: "date" },
        to: { type: "string", format: "date" },
      },
    },
    consent: {
      type: "object",
      properties: {
        given: { type: "boolean" },
        reference: { type: "string" },
        channel: { type: "string" },
      },
    },
    priority: { type: "integer", minimum: 1, maximum: 5 },
    note: { type: "string", maxLength: 1000 },
  },
};

/** Where the X-Road fixtures may live: copied into the repository, or beside it. */
const REPO_ROOT = join(__dirname, "..", "..");
const FIXTURE_DIRS = [
  join(REPO_ROOT, "test", "fixtures", "xroad-soap"),
  join(REPO_ROOT, "..", "shared", "fixtures", "xroad-soap"),
];

/** The X-Road `simple.query` request: MEMBER client EE/BUSINESS/consumer, service testQuery. */
export function soapSimpleQuery(): string {
  for (const dir of FIXTURE_DIRS) {
    const file = join(dir, "simple.query");
    if (existsSync(file)) return readFileSync(file, "utf8");
  }
  throw new Error(`simple.query not found in ${FIXTURE_DIRS.join(" or ")}`);
}

/** The SOAP service code and X-Road client of simple.query, which the config must admit. */
export const SOAP_SERVICE = "testQuery";
export const XROAD_CLIENT = "EE/BUSINESS/consumer";
/** The REST service the JSON runs use. */
export const REST_SERVICE = "benchIngest";
export const REST_SYNC_SERVICE = "benchSync";
