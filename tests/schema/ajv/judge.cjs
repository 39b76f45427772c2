// Judge documents against a JSON Schema with ajv (JSON Schema 2020-12, ECMA-262 patterns
// with the "u" flag, formats from ajv-formats). Usage: node judge.cjs SCHEMA < documents.ndjson
// Prints one line per document: "true" (valid) or "false".
"use strict";
const fs = require("fs");
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;

const schema = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
// strict: false lets the schema's "x-" annotations through; nothing else is relaxed.
const ajv = new Ajv2020({ strict: false, allErrors: false });
addFormats(ajv, ["date-time", "date", "uuid", "ipv4", "ipv6"]);
const validate = ajv.compile(schema);
const lines = fs.readFileSync(0, "utf8").split("\n").filter((line) => line.length > 0);
process.stdout.write(lines.map((line) => String(validate(JSON.parse(line)))).join("\n") + "\n");
