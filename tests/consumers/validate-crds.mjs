// Validate custom resources with the @kubernetes-models packages: Argo Rollouts
// (Rollout, AnalysisTemplate), Istio (VirtualService) and the Gateway API (HTTPRoute).
// stdin: JSON array of objects. stdout: JSON array of {kind, name, errors}.
// `.validate()` checks types and required fields against the CRD schema; CRDs
// never forbid unknown fields (the API server's strict field validation does), so
// a second pass rejects any property the schema does not declare.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { AnalysisTemplate, Rollout } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import { VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1/VirtualService";

const require = createRequire(import.meta.url);
// kind -> [model class, module whose .mjs keeps the CRD schema as JSON]. Istio's v1
// models ship compiled validators only; the v1beta1 schema (the same API) comes from
// the 2.3.0 release, installed under the alias istio-crd-schemas.
const MODELS = {
  Rollout: [Rollout, "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout"],
  AnalysisTemplate: [AnalysisTemplate, "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate"],
  VirtualService: [VirtualService, "istio-crd-schemas/networking.istio.io/v1beta1/VirtualService"],
  HTTPRoute: [HTTPRoute, "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute"],
};

function crdSchema(kind) {
  // The generated module keeps the CRD schema as a JSON literal.
  const module = MODELS[kind][1];
  const cjs = require.resolve(module);
  const source = readFileSync(join(dirname(cjs), `${module.split("/").pop()}.mjs`), "utf8");
  const start = source.indexOf("const schema = ") + "const schema = ".length;
  const end = source.indexOf("\n};\n", start) + 2; // the literal ends at the first top-level `};`
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
  } else if (schema.properties && Object.keys(schema.properties).length && !schema["x-kubernetes-preserve-unknown-fields"]) {
    // (an object declaring no properties at all is free-form: the generator drops
    // x-kubernetes-preserve-unknown-fields, e.g. on Rollout trafficRouting.plugins)
    for (const key of Object.keys(value)) {
      if (!(key in schema.properties)) out.push(`${path}.${key}: unknown field`);
      else unknownFields(value[key], schema.properties[key], `${path}.${key}`, out);
    }
  }
}

const objects = JSON.parse(readFileSync(0, "utf8"));
const results = objects.map((obj) => {
  const errors = [];
  const Model = MODELS[obj.kind]?.[0];
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
