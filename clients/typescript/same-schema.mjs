// node same-schema.mjs SERVED.json openapi.yaml: fails unless the schema the server serves at
// /openapi.json is openapi.yaml itself, value for value.
import { readFileSync } from "node:fs";
import { deepStrictEqual } from "node:assert";
import yaml from "js-yaml";

const [served, source] = process.argv.slice(2);
deepStrictEqual(JSON.parse(readFileSync(served, "utf8")), yaml.load(readFileSync(source, "utf8")));
