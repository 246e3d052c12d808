'use strict';
// gpufitd's /metrics as a real Prometheus server (Debian's `prometheus`) scrapes and serves
// it: the values Prometheus stores equal the calls made and the CLI's plans for the
// configured workloads, and `promtool check metrics` finds nothing to lint.

const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const h = require('./lib/harness');

const {grpc} = h;
const PROMTOOL = process.env.PROMTOOL_BIN || 'promtool';
const WORKLOAD_FILES = ['chat-llama3-8b.yaml', 'mig-small-tenant.yaml'];
const OK_CALLS = 5;
const BAD_CALLS = 2;

let dir;
let catalogFile;
let daemon;
let prometheus;
let prometheusUrl;

// Starts our own Prometheus on a free loopback port (it cannot report a port it chose, so
// pick one and retry if another process takes it first) and waits until it is ready.
async function startPrometheus(targetAddress) {
  return h.startPrometheus({dir, job: 'gpufitd', target: targetAddress});
}

function query(expr) {
  return h.promQuery(prometheusUrl, expr);
}

// Waits until Prometheus has a sample for `expr` and returns the series.
function queryNonEmpty(expr) {
  return h.waitFor(async () => {
    const series = await query(expr);
    return series.length ? series : null;
  }, {timeoutMs: 60000, intervalMs: 250, what: `Prometheus to have ${expr}`});
}

before(async () => {
  dir = h.makeTempDir('prometheus');
  catalogFile = path.join(dir, 'catalog.yaml');
  fs.writeFileSync(catalogFile, 'prices: {l4: 0.50}\n');
  const configFile = path.join(dir, 'gpufit.yaml');
  fs.writeFileSync(configFile, YAML.stringify({
    prices: {l4: 0.50},
    workloads: WORKLOAD_FILES.map((f) => h.readYamlFile(h.example(f))),
  }));
  daemon = await h.startDaemon({config: configFile});

  // The calls first, then the scraper: every scrape Prometheus makes sees all of them.
  const client = h.placementClient(daemon.grpcAddress);
  try {
    const workload = h.workloadFromYaml(h.example('chat-llama3-8b.yaml'));
    for (let i = 0; i < OK_CALLS; ++i) {
      const {decision} = await h.call(client, 'Place', {workload});
      assert.ok(decision.recommendation);
    }
    const bad = structuredClone(workload);
    bad.traffic.concurrency = -1;
    for (let i = 0; i < BAD_CALLS; ++i) {
      await h.expectGrpcError(h.call(client, 'Place', {workload: bad}), grpc.status.INVALID_ARGUMENT, 'bad Place');
    }
  } finally {
    client.close();
  }

  const started = await startPrometheus(daemon.httpAddress);
  prometheus = started.child;
  prometheusUrl = started.url;
  // Scraped at least once, successfully.
  await h.waitFor(async () => {
    const up = await query('up{job="gpufitd"}');
    return up.length === 1 && up[0].value === 1;
  }, {timeoutMs: 60000, intervalMs: 250, what: 'up{job="gpufitd"} == 1'});
});

after(async () => {
  if (prometheus) {
    await prometheus.stop().catch(() => {});
    h.removeDir(prometheus.storage);
  }
  if (daemon) await daemon.stop();
  h.removeDir(dir);
});

test('up{job="gpufitd"} is 1', async () => {
  const up = await query('up{job="gpufitd"}');
  assert.deepEqual(up.map((s) => s.value), [1]);
});

test('gpufit_grpc_requests_total counts the calls by method and code', async () => {
  const ok = await queryNonEmpty('gpufit_grpc_requests_total{job="gpufitd",method="Place",code="OK"}');
  assert.equal(ok.length, 1);
  assert.equal(ok[0].value, OK_CALLS);
  const bad = await queryNonEmpty('gpufit_grpc_requests_total{job="gpufitd",method="Place",code="INVALID_ARGUMENT"}');
  assert.equal(bad.length, 1);
  assert.equal(bad[0].value, BAD_CALLS);
  const count = await queryNonEmpty('gpufit_grpc_request_duration_seconds_count{job="gpufitd",method="Place"}');
  assert.equal(count.length, 1);
  assert.ok(count[0].value >= OK_CALLS, `histogram count ${count[0].value}`);
  const buckets = await queryNonEmpty('gpufit_grpc_request_duration_seconds_bucket{job="gpufitd",method="Place",le="+Inf"}');
  assert.equal(buckets[0].value, count[0].value, 'the +Inf bucket holds every observation');
});

test('gpufit_decisions_total counts the recommendations by accelerator', async () => {
  const expected = h.cliJson(['plan', h.example('chat-llama3-8b.yaml'), '--catalog', catalogFile]);
  const series = await queryNonEmpty(
      `gpufit_decisions_total{job="gpufitd",accelerator="${expected.recommendation.accelerator}"}`);
  assert.ok(series[0].value >= OK_CALLS, `decisions ${series[0].value}`);
});

test('per-workload gauges equal gpufit plan for both configured workloads', async () => {
  for (const file of WORKLOAD_FILES) {
    const expected = h.cliJson(['plan', h.example(file), '--catalog', catalogFile]);
    const name = expected.workload_name;
    const rec = expected.recommendation;
    assert.ok(rec, `${file} has a recommendation`);

    const replicas = await queryNonEmpty(`gpufit_workload_recommended_replicas{job="gpufitd",workload="${name}"}`);
    const mine = replicas.filter((s) => s.labels.accelerator === rec.accelerator);
    assert.equal(mine.length, 1,
        `${name}: a series for ${rec.accelerator}; got ${JSON.stringify(replicas.map((s) => s.labels))}`);
    assert.equal(mine[0].value, rec.replicas, `${name} replicas`);

    const cost = await queryNonEmpty(`gpufit_workload_cost_usd_per_hour{job="gpufitd",workload="${name}"}`);
    assert.equal(cost.length, 1);
    assert.ok(Math.abs(cost[0].value - rec.cost_usd_per_hour) <= 1e-9 * rec.cost_usd_per_hour,
        `${name} cost ${cost[0].value} vs ${rec.cost_usd_per_hour}`);

    const tps = await queryNonEmpty(`gpufit_workload_output_tokens_per_second{job="gpufitd",workload="${name}"}`);
    assert.equal(tps.length, 1);
    assert.ok(tps[0].value > 0, `${name} output tokens/s ${tps[0].value}`);
  }
});

test('config, build and process metrics', async () => {
  const info = await queryNonEmpty('gpufit_config_info{job="gpufitd"}');
  assert.equal(info.length, 1);
  assert.equal(info[0].value, 1);
  assert.equal(info[0].labels.version, daemon.catalogVersion, 'config_info version = serving catalog_version');

  const build = await queryNonEmpty('gpufit_build_info{job="gpufitd"}');
  assert.equal(build[0].value, 1);
  assert.ok(build[0].labels.version, 'build_info has a version label');

  const rss = await queryNonEmpty('process_resident_memory_bytes{job="gpufitd"}');
  assert.ok(rss[0].value > 0, `rss ${rss[0].value}`);
  const cpu = await queryNonEmpty('process_cpu_seconds_total{job="gpufitd"}');
  assert.ok(cpu[0].value >= 0);
  const fds = await queryNonEmpty('process_open_fds{job="gpufitd"}');
  assert.ok(fds[0].value > 0);
  const start = await queryNonEmpty('process_start_time_seconds{job="gpufitd"}');
  assert.ok(start[0].value > 1.6e9, `start time ${start[0].value} is a Unix time`);
});

test('promtool check metrics finds no problems in /metrics', async () => {
  const res = await h.httpGet(`http://${daemon.httpAddress}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] || '', /^text\/plain/);
  const lint = childProcess.spawnSync(PROMTOOL, ['check', 'metrics'], {input: res.body, encoding: 'utf8', timeout: 60000});
  assert.equal(lint.error, undefined, `running ${PROMTOOL}: ${lint.error}`);
  assert.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'promtool output');
  assert.equal(lint.status, 0);
});
