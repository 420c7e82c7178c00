#!/usr/bin/env node
// Writes config/sluice.schema.validate.js: the configuration schema's ajv validator as code,
// so a role's start checks its configuration without compiling the schema (ajv's code
// generation for it allocated several MB at every start, which stayed in the process's young
// generation). Run after editing config/sluice.schema.json; a unit test says when it is due.

"use strict";

const { readFileSync, writeFileSync } = require("node:fs");
const path = require("node:path");
const Ajv = require("ajv").default;
const standaloneCode = require("ajv/dist/standalone").default;

const SCHEMA_FILE = path.join(__dirname, "..", "config", "sluice.schema.json");
const VALIDATOR_FILE = path.join(__dirname, "..", "config", "sluice.schema.validate.js");

/** The validator's code for the schema as it is now. */
function validatorSource() {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, "utf8"));
  // allErrors: every problem is listed at once; verbose: errors carry the schema they failed,
  // so an unknown key can be matched to the known ones.
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: false, code: { source: true } });
  return (
    "// Generated from sluice.schema.json by scripts/config-validator.js; do not edit.\n" +
    `${standaloneCode(ajv, ajv.compile(schema))}\n`
  );
}

if (require.main === module) {
  writeFileSync(VALIDATOR_FILE, validatorSource());
  process.stdout.write(`wrote ${path.relative(process.cwd(), VALIDATOR_FILE)}\n`);
}

module.exports = { validatorSource, VALIDATOR_FILE };
