'use strict';
// Helpers of gpufit's deploy tests: run the real helm on the chart, parse what it renders,
// validate objects against the Kubernetes API schemas (kubernetes-models: JSON schemas
// generated from the Kubernetes OpenAPI spec, compiled with ajv; @kubernetes-models/
// prometheus-operator and /keda for the CRDs), run promtool.
//
// Environment (CTest sets it, see tests/deploy/CMakeLists.txt):
//   GPUFIT_SOURCE_DIR  the repository (default: two levels above this package)
//   HELM_BIN           helm (default: .tools/bin/helm, installed by scripts/install-deps.sh)
//   PROMTOOL_BIN       promtool (default: on PATH)

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

const SOURCE_DIR = path.resolve(process.env.GPUFIT_SOURCE_DIR || path.join(__dirname, '..', '..', '..'));
const CHART_DIR = path.join(SOURCE_DIR, 'helm', 'gpufit');
const CI_VALUES = fs.readdirSync(path.join(CHART_DIR, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort()
    .map((f) => path.join(CHART_DIR, 'ci', f));
const HELM = process.env.HELM_BIN || path.join(SOURCE_DIR, '.tools', 'bin', 'helm');
const PROMTOOL = process.env.PROMTOOL_BIN || 'promtool';

function run(command, args, {allowFailure = false, input} = {}) {
  const r = childProcess.spawnSync(command, args, {encoding: 'utf8', timeout: 120000, input, maxBuffer: 64 << 20});
  if (r.error) throw new Error(`${command}: ${r.error.message}`);
  if (!allowFailure) {
    assert.equal(r.status, 0, `${path.basename(command)} ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  }
  return r;
}

function helm(args, opts) {
  if (!fs.existsSync(HELM)) throw new Error(`helm not found at ${HELM}: run scripts/install-deps.sh or set HELM_BIN`);
  return run(HELM, args, opts);
}

// `helm template` of the chart with a values file and --set pairs; returns the objects.
function render({valuesFile, set = [], setJson = [], release = 'rel', namespace = 'gpufit-system', showOnly} = {}) {
  const args = ['template', release, CHART_DIR, '--namespace', namespace];
  if (valuesFile) args.push('--values', valuesFile);
  for (const s of set) args.push('--set', s);
  for (const s of setJson) args.push('--set-json', s);
  if (showOnly) args.push('--show-only', showOnly);
  return parseManifests(helm(args).stdout);
}

function parseManifests(text) {
  return YAML.parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(`rendered YAML: ${d.errors[0].message}`);
    return d.toJS();
  }).filter((o) => o && typeof o === 'object');
}

function find(objects, kind, predicate = () => true) {
  return objects.filter((o) => o.kind === kind && predicate(o));
}

function one(objects, kind, predicate) {
  const found = find(objects, kind, predicate);
  assert.equal(found.length, 1, `expected one ${kind}, found ${found.length}`);
  return found[0];
}

// apiVersion/kind -> [module, class]: every kind the chart may render.
const MODELS = {
  'v1/ConfigMap': ['kubernetes-models/v1', 'ConfigMap'],
  'v1/Service': ['kubernetes-models/v1', 'Service'],
  'v1/ServiceAccount': ['kubernetes-models/v1', 'ServiceAccount'],
  'v1/Pod': ['kubernetes-models/v1', 'Pod'],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1', 'Deployment'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1', 'PodDisruptionBudget'],
  'rbac.authorization.k8s.io/v1/ClusterRole': ['kubernetes-models/rbac.authorization.k8s.io/v1', 'ClusterRole'],
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ['kubernetes-models/rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'],
  'rbac.authorization.k8s.io/v1/Role': ['kubernetes-models/rbac.authorization.k8s.io/v1', 'Role'],
  'rbac.authorization.k8s.io/v1/RoleBinding': ['kubernetes-models/rbac.authorization.k8s.io/v1', 'RoleBinding'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1', 'NetworkPolicy'],
  'monitoring.coreos.com/v1/ServiceMonitor': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1', 'ServiceMonitor'],
  'monitoring.coreos.com/v1/PrometheusRule': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1', 'PrometheusRule'],
  'keda.sh/v1alpha1/ScaledObject': ['@kubernetes-models/keda/keda.sh/v1alpha1', 'ScaledObject'],
};

// Validates each object against its API schema; returns ["Kind/name: error", ...]. An object
// of a kind without a schema here is an error too (add it to MODELS).
async function schemaErrors(objects) {
  const errors = [];
  for (const o of objects) {
    const key = `${o.apiVersion}/${o.kind}`;
    const where = `${o.kind}/${o.metadata && o.metadata.name}`;
    if (!MODELS[key]) {
      errors.push(`${where}: no schema for ${key}`);
      continue;
    }
    const [mod, cls] = MODELS[key];
    const Model = (await import(mod))[cls];
    try {
      new Model(o).validate();
    } catch (e) {
      errors.push(`${where}: ${e.message}`);
    }
  }
  return errors;
}

module.exports = {
  CHART_DIR, CI_VALUES, HELM, PROMTOOL, SOURCE_DIR, YAML,
  find, helm, one, parseManifests, render, run, schemaErrors,
};
