'use strict';
// Every Grafana dashboard panel's PromQL, with its template variables substituted, returns
// data from a real Prometheus (Debian's `prometheus`) scraping a real gpufitd (build/gpufitd)
// on loopback after Place, Predict, GetCatalog, PlanFleet, extender traffic, and KEDA traffic:
// the external-scaler protocol (GetMetricSpec, GetMetrics, IsActive, StreamIsActive) and
// Recommend, with the live load gpufitd reads from a test exporter through a second real
// Prometheus. A panel whose metric gpufitd does not export yet must be listed in
// EXPECTED_MISSING with its reason; the test fails if an unlisted panel is empty, and also
// if a listed metric appears (then delete its entry: the panel must show data from now on).
// Also checks the dashboards' conventions: stable uids, a $datasource variable used by every
// panel, a unit on every panel.

const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const YAML = require('yaml');
const h = require('../integration/node/lib/harness');
const keda = require('../integration/node/lib/keda');
const {fleetFromYaml} = require('../integration/node/lib/fleet');

const GRAFANA_DIR = path.join(h.SOURCE_DIR, 'deploy', 'grafana');
const FIXTURES_DIR = path.resolve(h.SOURCE_DIR, 'tests', 'testdata', 'fixtures', 'extender');
const WORKLOAD_FILES = ['chat-llama3-8b.yaml', 'mig-small-tenant.yaml'];
// The live load KEDA triggers read: the test exporter's gauge, through the load Prometheus.
const LOAD_METRIC = 'vllm:num_requests_running';
const LOAD_QUERY = `sum(${LOAD_METRIC}{model_name="llama-3-8b"})`;
const FLEET_FILE = path.join(h.EXAMPLES_DIR, 'fleet', 'seven-tenants.yaml');
const FLEET_DEADLINE_MS = 60000;

// Metrics the dashboards show that the gpufitd under test does not export yet, and why.
// Remove an entry as soon as gpufitd exports the metric (the test says when).
const EXPECTED_MISSING = {};

// Values the template variables take in the test: the job Prometheus scrapes, every replica,
// every workload; Grafana's built-in intervals as a 1 s-scrape Prometheus needs them.
const VARIABLES = {
  $__rate_interval: '1m', $__interval: '15s', $__range: '5m',
  $job: 'gpufit', $instance: '.*', $workload: '.*', $datasource: 'prometheus',
};

const dashboards = fs.readdirSync(GRAFANA_DIR).filter((f) => f.endsWith('.json')).sort()
    .map((f) => ({file: f, json: JSON.parse(fs.readFileSync(path.join(GRAFANA_DIR, f), 'utf8'))}));

function panelsOf(dash) {
  return dash.panels.flatMap((p) => (p.type === 'row' ? p.panels || [] : [p]));
}

function substitute(expr) {
  let out = expr;
  for (const [k, v] of Object.entries(VARIABLES).sort((a, b) => b[0].length - a[0].length)) {
    out = out.split(k).join(v);
  }
  assert.ok(!/\$\w/.test(out), `unsubstituted variable in ${out}`);
  return out;
}

const METRIC_RE = /\b((?:gpufit|process)_[a-z_]+|up)\b(?=\s*[{[)])/g;
function metricsIn(expr) {
  return [...new Set([...expr.matchAll(METRIC_RE)].map((m) => m[1]))];
}
function baseName(metric) {
  return metric.replace(/_(bucket|sum|count)$/, '');
}

test('dashboard conventions: stable uid, $datasource, unit on every panel', () => {
  assert.deepEqual(dashboards.map((d) => d.json.uid).sort(), ['gpufit-extender', 'gpufit-fleet', 'gpufit-service']);
  for (const {file, json} of dashboards) {
    const vars = json.templating.list;
    const ds = vars.find((v) => v.name === 'datasource');
    assert.ok(ds && ds.type === 'datasource' && ds.query === 'prometheus', `${file}: $datasource variable`);
    for (const v of vars.filter((x) => x.type === 'query')) {
      assert.equal(v.datasource.uid, '${datasource}', `${file}: variable ${v.name} datasource`);
    }
    const panels = panelsOf(json);
    assert.ok(panels.length >= 5, `${file}: ${panels.length} panels`);
    const ids = new Set();
    for (const p of panels) {
      assert.ok(!ids.has(p.id), `${file}: duplicate panel id ${p.id}`);
      ids.add(p.id);
      assert.equal(p.datasource.uid, '${datasource}', `${file}: panel "${p.title}" datasource`);
      assert.ok(p.fieldConfig.defaults.unit, `${file}: panel "${p.title}" has no unit`);
      assert.ok(p.description, `${file}: panel "${p.title}" has no description`);
      assert.ok(p.targets.length >= 1, `${file}: panel "${p.title}" has no query`);
      for (const t of p.targets) assert.equal(t.datasource.uid, '${datasource}');
    }
  }
  const titles = (uid) => panelsOf(dashboards.find((d) => d.json.uid === uid).json).map((p) => p.title.toLowerCase()).join(' | ');
  // The list of what each dashboard shows.
  for (const word of ['accelerator', 'replicas', '$/hour', 'tokens/s per $', 'infeasible']) assert.ok(titles('gpufit-fleet').includes(word), `fleet: ${word}`);
  // Issues 6 and 7: fleet plans and KEDA autoscaling.
  for (const word of ['fleet plan cost', 'single-type', 'gap', 'solve time', 'plans by outcome',
    'scaler calls', 'per-replica target', 'active', 'desired', 'query error', 'query latency']) {
    assert.ok(titles('gpufit-fleet').includes(word), `fleet: ${word}`);
  }
  for (const word of ['calls', 'timeout', 'filtered', 'node cache']) assert.ok(titles('gpufit-extender').includes(word), `extender: ${word}`);
  for (const word of ['request rate', 'errors', 'percentiles', 'reload', 'memory', 'cpu']) assert.ok(titles('gpufit-service').includes(word), `service: ${word}`);
});

let dir;
let daemon;
let prometheus;
let prometheusUrl;
let extenderServed = false;
let exporter;
let loadPrometheus;
let loadPrometheusUrl;
let scaler;
let autoscaling;
let stream;
// What the last round's calls answered, to compare with what the panels show.
const last = {load: undefined, target: undefined, planCost: undefined, rounds: 0};

async function startPrometheus(target) {
  return h.startPrometheus({dir, job: 'gpufit', target: target});
}

function query(expr) {
  return h.promQuery(prometheusUrl, expr);
}

function post(address, urlPath, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`http://${address}${urlPath}`, {method: 'POST', agent: false, timeout: 10000,
      headers: {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)}}, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${urlPath}: timeout`)));
    req.on('error', reject);
    req.end(body);
  });
}

// The trigger metadata of a KEDA ScaledObject on the configured chat workload on L4.
function trigger(extra = {}) {
  return {workload: 'chat-llama3-8b', accelerator: 'l4', serverAddress: loadPrometheusUrl,
    query: LOAD_QUERY, activationThreshold: '1', ...extra};
}

// One round of traffic: good and bad Place calls, Predict, GetCatalog, extender calls where
// gpufitd serves them (the shared wire fixtures), KEDA scaler calls with a new live load,
// Recommend, and PlanFleet (an optimal plan, an infeasible fleet, an invalid request).
async function traffic(client) {
  const workload = h.workloadFromYaml(h.example('chat-llama3-8b.yaml'));
  for (let i = 0; i < 3; ++i) await h.call(client, 'Place', {workload});
  const tenant = h.workloadFromYaml(h.example('mig-small-tenant.yaml'));
  await h.call(client, 'Place', {workload: tenant});
  const bad = structuredClone(workload);
  bad.traffic.concurrency = -1;
  await h.call(client, 'Place', {workload: bad}).catch(() => {});
  await h.call(client, 'Predict', {workload, accelerator: 'l4', gpus: 1}).catch(() => {});
  await h.call(client, 'GetCatalog', {});
  for (const [verb, file] of [['filter', 'filter-request-nodenames.json'], ['filter', 'filter-request-nodes.json'],
    ['prioritize', 'prioritize-request.json']]) {
    const f = path.join(FIXTURES_DIR, file);
    if (!fs.existsSync(f)) continue;
    const status = await post(daemon.httpAddress, `/${verb}`, fs.readFileSync(f, 'utf8'));
    if (status !== 404) extenderServed = true;
  }

  // KEDA: the load moves every round; gpufitd reads it through the load Prometheus.
  last.rounds += 1;
  exporter.value = 2 * last.rounds + 0.5;
  const spec = await h.call(scaler, 'GetMetricSpec', keda.scaledObjectRef(trigger()));
  last.target = spec.metricSpecs[0].targetSizeFloat;
  await h.call(scaler, 'IsActive', keda.scaledObjectRef(trigger()));
  await h.call(autoscaling, 'Recommend', {workloads: []});
  // A query Prometheus refuses: an error the query panels count.
  await h.expectGrpcError(h.call(scaler, 'GetMetrics', {
    scaledObjectRef: keda.scaledObjectRef(trigger({query: 'sum(rate(x[5m]'})), metricName: 's0-bad',
  }), h.grpc.status.INVALID_ARGUMENT, 'GetMetrics with a bad query');
  const metrics = await h.call(scaler, 'GetMetrics', {
    scaledObjectRef: keda.scaledObjectRef(trigger()), metricName: 's0-gpufit-chat-llama3-8b-concurrency',
  });
  last.load = metrics.metricValues[0].metricValueFloat;

  // PlanFleet.
  const fleet = fleetFromYaml(FLEET_FILE);
  const planned = await h.call(client, 'PlanFleet', {fleet}, {deadlineMs: FLEET_DEADLINE_MS});
  last.planCost = planned.plan.cost_usd_per_hour;
  const infeasible = {...structuredClone(fleet), accelerators: ['l4'], gpus: [{accelerator: 'l4', max_count: 1}]};
  await h.expectGrpcError(h.call(client, 'PlanFleet', {fleet: infeasible}, {deadlineMs: FLEET_DEADLINE_MS}),
      h.grpc.status.FAILED_PRECONDITION, 'PlanFleet with one L4');
  await h.expectGrpcError(h.call(client, 'PlanFleet', {fleet: {workloads: []}}),
      h.grpc.status.INVALID_ARGUMENT, 'PlanFleet without workloads');
}

before(async () => {
  dir = h.makeTempDir('dashboards');
  // The load side first: gpufitd's config names the load Prometheus.
  exporter = await keda.startLoadExporter({metric: LOAD_METRIC, labels: {model_name: 'llama-3-8b'}, value: 1});
  const load = await h.startPrometheus({dir, job: 'vllm', target: exporter.address,
    extraArgs: ['--query.lookback-delta=5s']});
  loadPrometheus = load.child;
  loadPrometheusUrl = load.url;
  await keda.waitForQueryValue(loadPrometheusUrl, LOAD_QUERY, 1);

  const workloads = WORKLOAD_FILES.map((f) => h.readYamlFile(h.example(f)));
  workloads[0].autoscaling = {prometheus_url: loadPrometheusUrl, query: LOAD_QUERY, accelerator: 'l4',
    scale_down_stabilization_seconds: 300};
  const configFile = path.join(dir, 'gpufitd.yaml');
  fs.writeFileSync(configFile, YAML.stringify({
    version: 'dashboards-test',
    prices: {l4: 0.5},
    prometheus: {servers: [loadPrometheusUrl]},  // the only Prometheus gpufitd may query
    workloads,
  }));
  daemon = await h.startDaemon({config: configFile, args: ['--keda-poll-seconds', '1']});
  ({scaler, autoscaling} = keda.kedaClients(daemon.grpcAddress));
  const client = h.placementClient(daemon.grpcAddress);
  // A StreamIsActive open through the traffic, as KEDA keeps one per ScaledObject; it counts
  // when it ends (cancelled below). Its own trigger (A100), so that its polls do not overwrite
  // the L4 trigger's load, which the last test compares with GetMetrics' answer.
  stream = scaler.StreamIsActive(keda.scaledObjectRef(trigger({accelerator: 'a100-80gb'})));
  const streamEnded = new Promise((resolve) => {
    stream.on('error', resolve);
    stream.on('end', () => resolve(null));
  });
  const firstPush = new Promise((resolve) => stream.once('data', resolve));
  stream.on('data', () => {});
  try {
    await h.withTimeout(firstPush, 30000);
    await traffic(client);
    const started = await startPrometheus(daemon.httpAddress);
    prometheus = started.child;
    prometheusUrl = started.url;
    await h.waitFor(async () => {
      const up = await query('up{job="gpufit"}');
      return up.length === 1 && up[0].value === 1;
    }, {timeoutMs: 60000, intervalMs: 250, what: 'up{job="gpufit"} == 1'});
    // Traffic between scrapes (every 1 s), so that every rate() window sees increases.
    for (let i = 0; i < 5; ++i) {
      await traffic(client);
      await h.sleep(1100);
    }
    await traffic(client);
  } finally {
    client.close();
    stream.cancel();
  }
  await h.withTimeout(streamEnded, 10000);
  // gpufitd notices the cancel within a poll and counts the stream.
  await h.waitFor(async () => h.sampleValue(await h.scrape(daemon), 'gpufit_keda_requests_total',
      {method: 'StreamIsActive', code: 'CANCELLED'}) === 1, {timeoutMs: 30000, what: 'the stream counted'});
  // Prometheus has scraped the last round and the stream's end.
  const placed = h.sampleValue(await h.scrape(daemon), 'gpufit_grpc_requests_total', {method: 'Place', code: 'OK'});
  await h.waitFor(async () => {
    const s = await query('gpufit_grpc_requests_total{job="gpufit", method="Place", code="OK"}');
    const streams = await query('gpufit_keda_requests_total{job="gpufit", method="StreamIsActive", code="CANCELLED"}');
    return s.length === 1 && s[0].value === placed && streams.length === 1 && streams[0].value === 1;
  }, {timeoutMs: 60000, intervalMs: 250, what: `Prometheus to see ${placed} Place calls and the stream`});
});

after(async () => {
  if (scaler) scaler.close();
  if (autoscaling) autoscaling.close();
  if (loadPrometheus) {
    await loadPrometheus.stop().catch(() => {});
    h.removeDir(loadPrometheus.storage);
  }
  if (exporter) await exporter.close();
  if (prometheus) {
    await prometheus.stop().catch(() => {});
    h.removeDir(prometheus.storage);
  }
  if (daemon) await daemon.stop().catch(() => {});
  h.removeDir(dir);
});

test('excused metrics are really missing (remove an excuse once gpufitd exports it)', async () => {
  const names = new Set(JSON.parse((await h.httpGet(`${prometheusUrl}/api/v1/label/__name__/values`)).body).data);
  const nowExported = Object.keys(EXPECTED_MISSING).filter((m) =>
    names.has(m) || names.has(`${m}_bucket`) || names.has(`${m}_count`));
  assert.deepEqual(nowExported, [],
      `gpufitd now exports ${nowExported.join(', ')}: delete them from EXPECTED_MISSING in ${__filename}`);
  // Every metric a dashboard uses is either exported or excused.
  const used = new Set(dashboards.flatMap(({json}) => panelsOf(json).flatMap((p) => p.targets.flatMap((t) => metricsIn(t.expr)))));
  const unknown = [...used].filter((m) => !names.has(m) && !(baseName(m) in EXPECTED_MISSING) && !(m in EXPECTED_MISSING));
  assert.deepEqual(unknown, [], 'dashboards use metrics gpufitd does not export and nothing excuses');
});

for (const {file, json} of dashboards) {
  test(`every panel of ${file} returns data`, async (t) => {
    const empty = [];
    const excused = [];
    for (const p of panelsOf(json)) {
      for (const target of p.targets) {
        const expr = substitute(target.expr);
        const reasons = metricsIn(target.expr).map((m) => EXPECTED_MISSING[baseName(m)] || EXPECTED_MISSING[m]).filter(Boolean);
        const series = await query(expr);
        const hasData = series.some((s) => Number.isFinite(s.value));
        if (reasons.length) {
          excused.push(`"${p.title}" ${target.refId}: ${hasData ? 'HAS DATA' : 'no data'} (expected missing: ${reasons[0]})`);
          assert.ok(!hasData, `panel "${p.title}" has data but is excused: remove the excuse`);
        } else if (!hasData) {
          empty.push(`"${p.title}" ${target.refId}: ${expr} -> ${JSON.stringify(series).slice(0, 200)}`);
        }
      }
    }
    for (const line of excused) t.diagnostic(`EXPECTED-MISSING ${file} ${line}`);
    assert.deepEqual(empty, [], `${file}: panels without data`);
  });
}

test('the fleet-plan and KEDA panels show what the calls answered', async () => {
  const one = async (expr) => {
    const series = await query(expr);
    assert.equal(series.length, 1, `${expr}: ${JSON.stringify(series)}`);
    return series[0].value;
  };
  const sel = 'job="gpufit", workload="chat-llama3-8b", accelerator="l4"';
  assert.equal(await one(`gpufit_keda_trigger_load{${sel}}`), last.load);
  assert.equal(await one(`gpufit_keda_trigger_target_per_replica{${sel}}`), last.target);
  assert.equal(await one(`gpufit_keda_trigger_active{${sel}}`), 1);
  assert.equal(await one('gpufit_fleet_plan_cost_usd_per_hour{job="gpufit"}'), last.planCost);
  // A plan per round (proven optimal unless a starved CPU ran the solver out of time), and
  // per round one infeasible fleet and one invalid request.
  assert.equal(await one('sum(gpufit_fleet_plans_total{job="gpufit", result=~"optimal|feasible"})'), last.rounds);
  for (const result of ['infeasible', 'invalid']) {
    assert.equal(await one(`gpufit_fleet_plans_total{job="gpufit", result="${result}"}`), last.rounds, result);
  }
  assert.equal(await one('gpufit_fleet_plans_total{job="gpufit", result="error"}'), 0);
  assert.equal(await one('gpufit_keda_query_errors_total{job="gpufit", reason="bad_query"}'), last.rounds);
  assert.equal(await one('gpufit_keda_requests_total{job="gpufit", method="Recommend", code="OK"}'), last.rounds);
  // Every live-load query is in the histogram, the failed ones too: per round IsActive,
  // Recommend, the bad GetMetrics and the good one, plus the stream's polls.
  assert.ok(await one('gpufit_keda_query_duration_seconds_count{job="gpufit"}') >= 4 * last.rounds);
});

test('the alert rules\' expressions evaluate against the scraped gpufitd', async (t) => {
  const rules = YAML.parse(fs.readFileSync(path.join(h.SOURCE_DIR, 'deploy', 'prometheus', 'rules.yaml'), 'utf8'));
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    await query(r.expr);  // parses and evaluates; with healthy traffic, alerts are quiet
    const missing = metricsIn(r.expr).filter((m) => EXPECTED_MISSING[baseName(m)]);
    if (missing.length) t.diagnostic(`EXPECTED-MISSING alert ${r.alert}: ${missing.join(', ')}`);
  }
  // Healthy gpufitd: the outage and error alerts' conditions are false.
  assert.deepEqual(await query('absent(up{job="gpufit"} == 1)'), []);
  if (!extenderServed) t.diagnostic('extender endpoints answered 404: no extender traffic driven');
});
