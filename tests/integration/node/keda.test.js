'use strict';
// gpufitd as a KEDA external scaler, end to end: an independent gRPC client (@grpc/grpc-js
// with the field names of KEDA's protocol, loaded from proto/externalscaler/externalscaler.proto)
// asks gpufitd, which reads the live load from a real Prometheus server scraping a test
// exporter whose value this test sets. Also gpufit.v1.AutoscalingService.Recommend for a
// configured workload, and the failure modes: bad trigger metadata, a bad query and an
// unreachable Prometheus give clear gRPC errors and a metric, and gpufitd keeps serving; a
// Prometheus that goes away and comes back (behind a TCP proxy the test closes and reopens)
// gives UNAVAILABLE while away and live values again once back. gpufitd queries only the
// Prometheus servers its config lists (prometheus.servers): any other serverAddress is
// INVALID_ARGUMENT naming the key, and nothing connects to it.

const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const YAML = require('yaml');
const h = require('./lib/harness');
const {kedaClients, scaledObjectRef, startLoadExporter, waitForQueryValue} = require('./lib/keda');
const {TcpProxy} = require('./lib/restartable_server');

const {grpc} = h;
const CHAT = h.example('chat-llama3-8b.yaml');
const LOAD_METRIC = 'vllm:num_requests_running';
const LOAD_QUERY = `sum(${LOAD_METRIC}{model_name="llama-3-8b"})`;

let dir;
let exporter;
let prometheus;
let prometheusUrl;
let proxy;  // in front of Prometheus (can go away and come back); the configured workload's prometheus_url
let deadUrl;  // a listed server where nothing listens
let daemon;
let scaler;
let autoscaling;

// --- Peers ---------------------------------------------------------------------------------

// Our own Prometheus on a free loopback port, scraping the exporter (lib/keda.js) every second.
async function startPrometheus(target) {
  return h.startPrometheus({dir, job: 'vllm', target: target, extraArgs: ['--query.lookback-delta=5s']});
}

// Sets the exporter and waits until Prometheus answers the load query with it.
async function setLoad(value) {
  exporter.value = value;
  await waitForQueryValue(prometheusUrl, LOAD_QUERY, value);
}

// The trigger metadata of a ScaledObject for the chat model on `accelerator`.
function trigger(extra = {}) {
  return {
    scalerAddress: daemon.grpcAddress,
    workload: 'chat-llama3-8b',
    accelerator: 'l4',
    gpus: '1',
    serverAddress: prometheusUrl,
    query: LOAD_QUERY,
    ...extra,
  };
}

function ref(metadata) {
  return scaledObjectRef(metadata);
}

before(async () => {
  dir = h.makeTempDir('keda');
  exporter = await startLoadExporter({metric: LOAD_METRIC, labels: {model_name: 'llama-3-8b'}});
  const started = await startPrometheus(exporter.address);
  prometheus = started.child;
  prometheusUrl = started.url;
  await setLoad(0);
  proxy = new TcpProxy(Number(new URL(prometheusUrl).port));
  await proxy.start();

  const chat = h.readYamlFile(CHAT);
  chat.autoscaling = {
    prometheus_url: proxy.url, query: LOAD_QUERY, accelerator: 'l4',
    scale_down_stabilization_seconds: 300,
  };
  deadUrl = `http://127.0.0.1:${await h.freePort()}`;
  const configFile = path.join(dir, 'gpufit.yaml');
  fs.writeFileSync(configFile, YAML.stringify({
    // The only servers gpufitd may query; the first is a trigger's default.
    prometheus: {servers: [prometheusUrl, proxy.url, deadUrl]},
    workloads: [chat],
  }));
  daemon = await h.startDaemon({
    config: configFile,
    args: ['--keda-poll-seconds', '1', '--shutdown-grace-seconds', '30'],
  });
  ({scaler, autoscaling} = kedaClients(daemon.grpcAddress));
});

after(async () => {
  if (scaler) scaler.close();
  if (autoscaling) autoscaling.close();
  if (daemon) await daemon.stop().catch(() => {});
  if (prometheus) {
    await prometheus.stop().catch(() => {});
    h.removeDir(prometheus.storage);
  }
  if (exporter) await exporter.close();
  if (proxy && proxy.server) await proxy.stop().catch(() => {});
  if (dir) h.removeDir(dir);
});

test('GetMetricSpec: the target is `gpufit predict` max_concurrency for the accelerator', async () => {
  for (const accelerator of ['l4', 'a100-80gb']) {
    const expected = h.cliJson(['predict', CHAT, '--accelerator', accelerator]);
    assert.ok(expected.feasible, `${accelerator} serves the chat model`);
    const response = await h.call(scaler, 'GetMetricSpec', ref(trigger({accelerator})));
    assert.equal(response.metricSpecs.length, 1);
    const spec = response.metricSpecs[0];
    assert.equal(spec.metricName, 'gpufit-chat-llama3-8b-concurrency');
    assert.equal(spec.targetSizeFloat, expected.max_concurrency, accelerator);
    assert.equal(Number(spec.targetSize), Math.floor(expected.max_concurrency), accelerator);
  }
  // Inline workload keys give the same target as the configured workload.
  const inline = await h.call(scaler, 'GetMetricSpec', ref({
    model: 'llama-3-8b', precision: 'fp8', inputTokens: '512', outputTokens: '256',
    maxContextTokens: '8192', ttftMs: '2000', tpotMs: '100', accelerator: 'l4',
    serverAddress: prometheusUrl, query: LOAD_QUERY,
  }));
  const configured = await h.call(scaler, 'GetMetricSpec', ref(trigger()));
  assert.equal(inline.metricSpecs[0].targetSizeFloat, configured.metricSpecs[0].targetSizeFloat);
  assert.equal(inline.metricSpecs[0].metricName, 'gpufit-llama-3-8b-concurrency');
});

test('GetMetrics follows the exporter through Prometheus', async () => {
  for (const value of [7, 13.5, 0]) {
    await setLoad(value);
    const response = await h.call(scaler, 'GetMetrics', {
      scaledObjectRef: ref(trigger()), metricName: 's0-gpufit-chat-llama3-8b-concurrency',
    });
    assert.equal(response.metricValues.length, 1);
    const m = response.metricValues[0];
    assert.equal(m.metricName, 's0-gpufit-chat-llama3-8b-concurrency');
    assert.equal(m.metricValueFloat, value);
    assert.equal(Number(m.metricValue), Math.ceil(value), 'the integer field rounds up');
  }
});

test('IsActive is load above activationThreshold', async () => {
  await setLoad(3);
  const isActive = async (threshold) =>
    (await h.call(scaler, 'IsActive', ref(trigger({activationThreshold: threshold})))).result;
  assert.equal(await isActive('5'), false);
  assert.equal(await isActive('3'), false);
  assert.equal(await isActive('2.5'), true);
  assert.equal(await isActive('0'), true);  // the default too
  assert.equal((await h.call(scaler, 'IsActive', ref(trigger()))).result, true);
});

test('StreamIsActive pushes when the state changes', async () => {
  await setLoad(0);
  const stream = scaler.StreamIsActive(ref(trigger({activationThreshold: '1'})));
  const received = [];
  const ended = new Promise((resolve) => {
    stream.on('error', (err) => resolve(err));
    stream.on('end', () => resolve(null));
  });
  stream.on('data', (r) => received.push(r.result));
  try {
    await h.waitFor(() => received.length >= 1, {timeoutMs: 30000, what: 'the first push'});
    assert.deepEqual(received, [false]);
    exporter.value = 4;
    await h.waitFor(() => received.length >= 2, {timeoutMs: 60000, what: 'a push after the load rose'});
    assert.deepEqual(received, [false, true]);
    exporter.value = 0;
    await h.waitFor(() => received.length >= 3, {timeoutMs: 60000, what: 'a push after the load fell'});
    assert.deepEqual(received, [false, true, false]);
  } finally {
    stream.cancel();
  }
  const err = await ended;
  assert.ok(err === null || err.code === grpc.status.CANCELLED, `stream ended with ${err && err.details}`);
});

test('Recommend: desired replicas = ceil(load / per-replica target), stabilised', async () => {
  const target = h.cliJson(['predict', CHAT, '--accelerator', 'l4']).max_concurrency;
  const load = 2 * target + 1;
  await setLoad(load);
  const first = await h.call(autoscaling, 'Recommend', {workloads: []});
  assert.equal(first.recommendations.length, 1);
  const r = first.recommendations[0];
  assert.equal(r.workload, 'chat-llama3-8b');
  assert.equal(r.accelerator, 'l4');
  assert.equal(r.load, load);
  assert.equal(r.target_per_replica, target);
  assert.equal(r.raw_replicas, 3);
  assert.equal(r.desired_replicas, 3);
  // Load falls: within the 300 s window the recommendation holds.
  await setLoad(1);
  const second = await h.call(autoscaling, 'Recommend', {workloads: ['chat-llama3-8b']});
  assert.equal(second.recommendations[0].raw_replicas, 1);
  assert.equal(second.recommendations[0].desired_replicas, 3);
  const samples = await h.scrape(daemon);
  assert.equal(h.sampleValue(samples, 'gpufit_workload_desired_replicas', {workload: 'chat-llama3-8b'}), 3);
  assert.equal(h.sampleValue(samples, 'gpufit_keda_requests_total', {method: 'Recommend', code: 'OK'}), 2);
});

test('bad metadata is INVALID_ARGUMENT naming the key', async () => {
  const cases = [
    [{tpotMs: '-3', workload: undefined, model: 'llama-3-8b'}, /^scalerMetadata\.tpotMs: must be a number > 0/],
    [{gpus: 'two'}, /^scalerMetadata\.gpus: must be an integer >= 1/],
    [{accelerator: 'tpu-v5'}, /^scalerMetadata\.accelerator: unknown accelerator/],
    [{workload: 'nope'}, /^scalerMetadata\.workload: not a workload in gpufitd's config/],
    [{activationThreshold: 'high'}, /^scalerMetadata\.activationThreshold: must be a number >= 0/],
    [{serverAddres: 'http://x'}, /^scalerMetadata\.serverAddres: unknown key/],
  ];
  for (const [change, message] of cases) {
    const metadata = trigger(change);
    for (const k of Object.keys(metadata)) if (metadata[k] === undefined) delete metadata[k];
    for (const method of ['GetMetricSpec', 'IsActive']) {
      const err = await h.expectGrpcError(h.call(scaler, method, ref(metadata)),
          grpc.status.INVALID_ARGUMENT, `${method} ${JSON.stringify(change)}`);
      assert.match(err.details, message);
    }
  }
});

test('a bad query and an unreachable Prometheus: clear errors, a metric, and gpufitd keeps serving', async () => {
  const before = await h.scrape(daemon);
  const count = (samples, reason) =>
    h.sampleValue(samples, 'gpufit_keda_query_errors_total', {reason}) || 0;

  const badQuery = await h.expectGrpcError(
      h.call(scaler, 'GetMetrics', {scaledObjectRef: ref(trigger({query: 'sum(rate(x[5m]'})), metricName: 'm'}),
      grpc.status.INVALID_ARGUMENT, 'GetMetrics with a bad query');
  assert.match(badQuery.details, /^scalerMetadata\.query: Prometheus refused query 'sum\(rate\(x\[5m\]' \(HTTP 400\): bad_data/);

  const unreachable = await h.expectGrpcError(
      h.call(scaler, 'IsActive', ref(trigger({serverAddress: deadUrl}))),
      grpc.status.UNAVAILABLE, 'IsActive with an unreachable Prometheus');
  assert.match(unreachable.details, /^scalerMetadata\.serverAddress: Prometheus at http:\/\/127\.0\.0\.1:\d+ unreachable/);

  const stream = scaler.StreamIsActive(ref(trigger({serverAddress: deadUrl})));
  stream.on('data', () => {});
  const streamErr = await new Promise((resolve) => {
    stream.on('error', resolve);
    stream.on('end', () => resolve(null));
  });
  assert.ok(streamErr, 'the stream ends with an error');
  assert.equal(streamErr.code, grpc.status.UNAVAILABLE);

  const after = await h.scrape(daemon);
  assert.equal(count(after, 'bad_query') - count(before, 'bad_query'), 1);
  assert.equal(count(after, 'unreachable') - count(before, 'unreachable'), 2);
  assert.ok(h.sampleValue(after, 'gpufit_keda_requests_total', {method: 'IsActive', code: 'UNAVAILABLE'}) >= 1);

  // Still serving: the scaler, and the placement API on the same port.
  assert.ok(daemon.running());
  const spec = await h.call(scaler, 'GetMetricSpec', ref(trigger()));
  assert.equal(spec.metricSpecs.length, 1);
  const placement = h.placementClient(daemon.grpcAddress);
  try {
    const catalog = await h.call(placement, 'GetCatalog', {});
    assert.ok(catalog.catalog);
  } finally {
    placement.close();
  }
});

test('only listed Prometheus servers: another serverAddress is INVALID_ARGUMENT and never contacted', async () => {
  // A listener standing where a client would like gpufitd to connect; it counts connections.
  let connections = 0;
  const target = net.createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise((resolve) => target.listen(0, '127.0.0.1', resolve));
  const port = target.address().port;
  try {
    const before = await h.scrape(daemon);
    const queries = (samples) => h.sampleValue(samples, 'gpufit_keda_query_duration_seconds_count') || 0;
    for (const address of [`http://127.0.0.1:${port}`, `${prometheusUrl}@127.0.0.1:${port}`,
      `http://127.0.0.1:${port}/#@${new URL(prometheusUrl).host}`, `${prometheusUrl}/../`]) {
      const metadata = trigger({serverAddress: address});
      for (const method of ['GetMetricSpec', 'IsActive']) {
        const err = await h.expectGrpcError(h.call(scaler, method, ref(metadata)),
            grpc.status.INVALID_ARGUMENT, `${method} ${address}`);
        assert.match(err.details, /^scalerMetadata\.serverAddress: /, address);
      }
      const err = await h.expectGrpcError(
          h.call(scaler, 'GetMetrics', {scaledObjectRef: ref(metadata), metricName: 's0-m'}),
          grpc.status.INVALID_ARGUMENT, `GetMetrics ${address}`);
      assert.match(err.details, /^scalerMetadata\.serverAddress: /, address);
    }
    const err = await h.expectGrpcError(
        h.call(scaler, 'IsActive', ref(trigger({serverAddress: `http://127.0.0.1:${port}`}))),
        grpc.status.INVALID_ARGUMENT, 'IsActive, unlisted server');
    assert.equal(err.details, `scalerMetadata.serverAddress: 'http://127.0.0.1:${port}' is not a Prometheus ` +
        `server gpufitd may query (prometheus.servers in its config: ${prometheusUrl}, ${proxy.url}, ${deadUrl})`);
    // A listed server, written differently, is the same server.
    await setLoad(2);
    const same = await h.call(scaler, 'GetMetrics', {
      scaledObjectRef: ref(trigger({serverAddress: `${prometheusUrl.replace('http://', 'HTTP://')}/`})),
      metricName: 's0-m'});
    assert.equal(same.metricValues[0].metricValueFloat, 2);
    // No serverAddress: the first listed server.
    const metadata = trigger();
    delete metadata.serverAddress;
    const byDefault = await h.call(scaler, 'GetMetrics', {scaledObjectRef: ref(metadata), metricName: 's0-m'});
    assert.equal(byDefault.metricValues[0].metricValueFloat, 2);
    assert.equal(queries(await h.scrape(daemon)) - queries(before), 2, 'only the two listed queries ran');
  } finally {
    await new Promise((resolve) => target.close(resolve));
  }
  assert.equal(connections, 0, 'gpufitd connected to an unlisted server');
});

test('Prometheus away and back: UNAVAILABLE naming it, counted, still serving; then live values again', async () => {
  const viaProxy = ref(trigger({serverAddress: proxy.url}));
  const getMetrics = () => h.call(scaler, 'GetMetrics', {scaledObjectRef: viaProxy, metricName: 's0-chat'});
  const recommend = () => h.call(autoscaling, 'Recommend', {workloads: ['chat-llama3-8b']});
  await setLoad(5);
  assert.equal((await getMetrics()).metricValues[0].metricValueFloat, 5);
  assert.equal((await recommend()).recommendations[0].load, 5);

  const before = await h.scrape(daemon);
  await proxy.stop();
  const unreachable = new RegExp(`Prometheus at ${proxy.url.replace(/\./g, '\\.')} unreachable`);
  const e1 = await h.expectGrpcError(getMetrics(), grpc.status.UNAVAILABLE, 'GetMetrics, Prometheus away');
  assert.match(e1.details, /^scalerMetadata\.serverAddress: /);
  assert.match(e1.details, unreachable);
  const e2 = await h.expectGrpcError(h.call(scaler, 'IsActive', viaProxy), grpc.status.UNAVAILABLE,
      'IsActive, Prometheus away');
  assert.match(e2.details, unreachable);
  const e3 = await h.expectGrpcError(recommend(), grpc.status.UNAVAILABLE, 'Recommend, Prometheus away');
  assert.match(e3.details, /^chat-llama3-8b\.autoscaling\.prometheus_url: /);
  assert.match(e3.details, unreachable);

  // Counted, and everything that does not need Prometheus still answers.
  const during = await h.scrape(daemon);
  const delta = (name, labels) => (h.sampleValue(during, name, labels) || 0) - (h.sampleValue(before, name, labels) || 0);
  assert.equal(delta('gpufit_keda_query_errors_total', {reason: 'unreachable'}), 3);
  for (const method of ['GetMetrics', 'IsActive', 'Recommend']) {
    assert.equal(delta('gpufit_keda_requests_total', {method, code: 'UNAVAILABLE'}), 1, method);
  }
  assert.equal((await h.call(scaler, 'GetMetricSpec', viaProxy)).metricSpecs.length, 1);
  const placement = h.placementClient(daemon.grpcAddress);
  try {
    assert.ok((await h.call(placement, 'Place', {workload: h.workloadFromYaml(CHAT)})).decision.recommendation);
  } finally {
    placement.close();
  }
  assert.equal((await h.httpGet(`http://${daemon.httpAddress}/readyz`)).status, 200);

  // Back, with a new value: it flows through every path again.
  await setLoad(9);
  await proxy.start(proxy.port);
  assert.equal((await getMetrics()).metricValues[0].metricValueFloat, 9);
  assert.equal((await h.call(scaler, 'IsActive', viaProxy)).result, true);
  assert.equal((await recommend()).recommendations[0].load, 9);
});

test('SIGTERM with a StreamIsActive open: the stream ends and gpufitd exits cleanly', async () => {
  const stream = scaler.StreamIsActive(ref(trigger()));
  const first = new Promise((resolve) => stream.once('data', resolve));
  const ended = new Promise((resolve) => {
    stream.on('error', resolve);
    stream.on('end', () => resolve(null));
  });
  await h.withTimeout(first, 30000);
  // The grace period is 30 s; the stream must not hold shutdown that long.
  const status = await daemon.stop({timeoutMs: 20000});
  assert.equal(status.code, 0, daemon.tail());
  const err = await h.withTimeout(ended, 10000, 'timeout');
  assert.notEqual(err, 'timeout', 'the stream ended');
  daemon = null;
});
