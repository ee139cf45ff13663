// Validate Argo Rollouts objects with @kubernetes-models/argo-rollouts.
// stdin: JSON array of objects. stdout: JSON array of {kind, name, errors}.
// `.validate()` checks types and required fields against the CRD schema; the
// CRDs never forbid unknown fields (the API server's strict field validation
// does), so a second pass rejects any property the schema does not declare.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { AnalysisTemplate, Rollout } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1";

const require = createRequire(import.meta.url);
const MODELS = { Rollout, AnalysisTemplate };

function crdSchema(kind) {
  // The generated module keeps the CRD schema as a JSON literal.
  const cjs = require.resolve(`@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/${kind}`);
  const source = readFileSync(join(dirname(cjs), `${kind}.mjs`), "utf8");
  const start = source.indexOf("const schema = ") + "const schema = ".length;
  const end = source.indexOf("};\nexport class", start) + 1;
  return JSON.parse(source.slice(start, end));
}

function unknownFields(value, schema, path, out) {
  if (value === null || typeof value !== "object" || !schema) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => unknownFields(item, schema.items, `${path}[${i}]`, out));
    return;
  }
  if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
    // a map (labels, annotations, resources): any key, checked values
    for (const key of Object.keys(value)) unknownFields(value[key], schema.additionalProperties, `${path}.${key}`, out);
  } else if (schema.properties && !schema["x-kubernetes-preserve-unknown-fields"]) {
    for (const key of Object.keys(value)) {
      if (!(key in schema.properties)) out.push(`${path}.${key}: unknown field`);
      else unknownFields(value[key], schema.properties[key], `${path}.${key}`, out);
    }
  }
}

const objects = JSON.parse(readFileSync(0, "utf8"));
const results = objects.map((obj) => {
  const errors = [];
  const Model = MODELS[obj.kind];
  if (!Model) return { kind: obj.kind, name: obj.metadata?.name, errors: [`no model for kind ${obj.kind}`] };
  try {
    new Model(obj).validate();
  } catch (e) {
    errors.push(e.message);
  }
  const { metadata, ...rest } = obj; // metadata is ObjectMeta: checked by the Kubernetes schemas
  unknownFields(rest, { properties: { ...crdSchema(obj.kind).properties } }, "", errors);
  return { kind: obj.kind, name: obj.metadata?.name, errors };
});
process.stdout.write(JSON.stringify(results));
