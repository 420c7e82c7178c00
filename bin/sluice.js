#!/usr/bin/env node
// Entry point of the `sluice` command: runs the compiled CLI.
require("../dist/cli/main.js").main(process.argv.slice(2));
