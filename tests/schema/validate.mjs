// Checks schema/ with the tools clients use: the OpenRPC document against the
// official OpenRPC meta-schema, and every JSON Schema in schema/ (those inside
// the OpenRPC document too) compiled by ajv in strict draft 2020-12 mode, so a
// schema the daemon's own validator accepts also means the same to clients.
// Usage: node validate.mjs [SCHEMA_DIR [MODULES_DIR]]; MODULES_DIR is where
// node_modules was installed (default: beside this script). Exits 1 listing
// every problem.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const modulesDir = process.argv[3] ? resolve(process.argv[3]) : dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(modulesDir, "validate.mjs"));
const Ajv = require("ajv").default; // draft-07, what the OpenRPC meta-schema is written in
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;
const openrpcMeta = require("@open-rpc/meta-schema").default;
const jsonSchemaToolsMeta = require("@json-schema-tools/meta-schema").default;

const here = dirname(fileURLToPath(import.meta.url));
const schemaDir = resolve(process.argv[2] ?? join(here, "..", "..", "schema"));
const problems = [];
let checks = 0;

function load(name) {
  const path = join(schemaDir, name);
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    problems.push(`${path}: ${e.message}`);
    return null;
  }
}

function report(what, errors) {
  for (const e of errors ?? [])
    problems.push(`${what}: ${e.instancePath || "(root)"} ${e.message}` +
      (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ""));
}

// Strict 2020-12, as close to the daemon's subset as ajv gets: unknown
// keywords, formats and ignored keywords are errors. Union types are allowed
// because the subset has them ("type": ["string", "null"]).
function strict2020() {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  return ajv;
}

// 1. The OpenRPC document against the official meta-schema.
const doc = load("udsrpc.openrpc.json");
if (doc) {
  // The meta-schema's own meta-schema is not a JSON Schema draft ajv knows,
  // and the third-party schema is not written for strict mode.
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  addFormats(ajv);
  // The OpenRPC meta-schema refers to it both with and without the final slash.
  ajv.addMetaSchema(jsonSchemaToolsMeta);
  ajv.addSchema({ ...jsonSchemaToolsMeta, $id: jsonSchemaToolsMeta.$id.replace(/\/$/, "") });
  checks++;
  try {
    const validate = ajv.compile(openrpcMeta);
    if (!validate(doc)) report("udsrpc.openrpc.json vs OpenRPC meta-schema", validate.errors);
  } catch (e) {
    problems.push(`OpenRPC meta-schema does not compile: ${e.message}`);
  }
  if (doc.openrpc !== "1.2.6") problems.push(`udsrpc.openrpc.json: openrpc is ${doc.openrpc}, want 1.2.6`);
}

// 2. Every schema inside the OpenRPC document, strict 2020-12. Its refs point
// at "#/components/schemas/NAME", i.e. into the document; here those become
// refs into one schema holding the components as $defs.
if (doc) {
  const base = "urn:udsrpc:openrpc";
  const rewrite = (v) => JSON.parse(JSON.stringify(v).replaceAll(
    '"$ref":"#/components/schemas/', `"$ref":"${base}#/$defs/`));
  const ajv = strict2020();
  try {
    ajv.addSchema({ $id: base, $defs: rewrite(doc.components?.schemas ?? {}) });
  } catch (e) {
    problems.push(`components.schemas: ${e.message}`);
  }
  const compile = (what, schema) => {
    checks++;
    try {
      return ajv.compile(rewrite(schema));
    } catch (e) {
      problems.push(`${what}: ${e.message}`);
      return null;
    }
  };
  const cd = (v) => (v && v.$ref ? doc.components.contentDescriptors[v.$ref.split("/").pop()] : v);
  for (const name of Object.keys(doc.components?.schemas ?? {}))
    compile(`components.schemas.${name}`, { $ref: `#/components/schemas/${name}` });
  for (const [name, n] of Object.entries(doc["x-udsrpc-notifications"] ?? {}))
    compile(`x-udsrpc-notifications.${name}.params`, n.params);
  for (const [code, s] of Object.entries(doc["x-udsrpc-error-data"] ?? {}))
    compile(`x-udsrpc-error-data.${code}`, s);
  for (const m of doc.methods ?? []) {
    const params = (m.params ?? []).map(cd);
    const props = Object.fromEntries(params.map((p) => [p.name, p.schema]));
    const required = params.filter((p) => p.required).map((p) => p.name);
    const paramsSchema = { type: "object", properties: props, required, additionalProperties: false };
    const vParams = m["x-udsrpc-params"] === "any" ? null : compile(`${m.name} params`, paramsSchema);
    const result = cd(m.result);
    const vResult = result ? compile(`${m.name} result`, result.schema) : null;
    // The examples are replies a client would see: ajv must agree with the daemon.
    for (const ex of m.examples ?? []) {
      const p = Object.fromEntries((ex.params ?? []).map((x) => [x.name, x.value]));
      checks++;
      if (vParams && !vParams(p)) report(`${m.name} example '${ex.name}' params`, vParams.errors);
      if (vResult && ex.result && !vResult(ex.result.value))
        report(`${m.name} example '${ex.name}' result`, vResult.errors);
    }
  }
}

// 3. The config and policy schemas, strict 2020-12, with the examples of
// udsrpc(7) (CONFIGURATION FILE, POLICY) accepted and a misspelt member refused.
const samples = {
  "config.schema.json": {
    good: {
      socket: "/run/udsrpcd.sock", socket_mode: "0666", socket_group: "adm",
      state_dir: "/var/lib/udsrpcd", policy: "/etc/udsrpcd/policy.json", log_level: "info",
      user: "udsrpc", group: "udsrpc",
      limits: {
        max_connections: 4096, max_connections_per_uid: 256, max_message_bytes: 1048576,
        max_batch: 1024, max_output_bytes: 8388608, partial_timeout_ms: 10000, idle_timeout_ms: 0,
      },
    },
    bad: { limits: { max_conections: 5 } },
  },
  "policy.schema.json": {
    good: {
      rules: [
        { effect: "allow", methods: ["ping", "echo", "rpc.discover", "daemon.info", "peer.whoami"] },
        { effect: "allow", methods: ["config.get", "config.list", "events.*"], groups: ["adm"] },
        { effect: "deny", methods: ["daemon.shutdown"], pids: [4242] },
        { effect: "allow", methods: ["*"], uids: [0, "self"] },
      ],
    },
    bad: { rules: [{ effect: "allow", method: ["*"] }] },
  },
};
for (const [file, { good, bad }] of Object.entries(samples)) {
  const schema = load(file);
  if (!schema) continue;
  checks++;
  if (schema.$schema !== "https://json-schema.org/draft/2020-12/schema")
    problems.push(`${file}: $schema must be draft 2020-12`);
  let validate;
  try {
    validate = strict2020().compile(schema);
  } catch (e) {
    problems.push(`${file}: ${e.message}`);
    continue;
  }
  if (!validate(good)) report(`${file} udsrpc(7) example`, validate.errors);
  if (validate(bad)) problems.push(`${file}: accepts a misspelt member: ${JSON.stringify(bad)}`);
}

if (problems.length) {
  console.error(`schema check: ${problems.length} problem(s) in ${schemaDir}:`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`schema check: ${checks} checks passed (${schemaDir})`);
