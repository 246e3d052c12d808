'use strict';
// Every Grafana dashboard panel's PromQL, with its template variables substituted, returns
// data from a real Prometheus (Debian's `prometheus`) scraping a real gpufitd (build/gpufitd)
// on loopback after Place, Predict, GetCatalog (and, where gpufitd serves it, extender)
// traffic. A panel whose metric gpufitd does not export yet must be listed in
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

const GRAFANA_DIR = path.join(h.SOURCE_DIR, 'deploy', 'grafana');
const FIXTURES_DIR = path.resolve(h.SOURCE_DIR, '..', 'shared', 'fixtures', 'extender');
const WORKLOAD_FILES = ['chat-llama3-8b.yaml', 'mig-small-tenant.yaml'];

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
  for (const word of ['calls', 'timeout', 'filtered', 'node cache']) assert.ok(titles('gpufit-extender').includes(word), `extender: ${word}`);
  for (const word of ['request rate', 'errors', 'percentiles', 'reload', 'memory', 'cpu']) assert.ok(titles('gpufit-service').includes(word), `service: ${word}`);
});

let dir;
let daemon;
let prometheus;
let prometheusUrl;
let extenderServed = false;

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

// One round of traffic: good and bad Place calls, Predict, GetCatalog, and extender calls
// where gpufitd serves them (the shared wire fixtures).
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
}

before(async () => {
  dir = h.makeTempDir('dashboards');
  const configFile = path.join(dir, 'gpufitd.yaml');
  fs.writeFileSync(configFile, YAML.stringify({
    version: 'dashboards-test',
    prices: {l4: 0.5},
    workloads: WORKLOAD_FILES.map((f) => h.readYamlFile(h.example(f))),
  }));
  daemon = await h.startDaemon({config: configFile});
  const client = h.placementClient(daemon.grpcAddress);
  try {
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
  }
  // Prometheus has scraped the last round.
  const placed = h.sampleValue(await h.scrape(daemon), 'gpufit_grpc_requests_total', {method: 'Place', code: 'OK'});
  await h.waitFor(async () => {
    const s = await query('gpufit_grpc_requests_total{job="gpufit", method="Place", code="OK"}');
    return s.length === 1 && s[0].value === placed;
  }, {timeoutMs: 60000, intervalMs: 250, what: `Prometheus to see ${placed} Place calls`});
});

after(async () => {
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
