'use strict';
// gpufitd's gRPC API through an independent implementation (@grpc/grpc-js): every answer
// must equal what the `gpufit` CLI computes from the same files (one core, one decision),
// errors carry the documented codes and field paths, and health/reflection are standard.

const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');

const {grpc} = h;

let dir;
let config;
let daemon;
let placement;

before(async () => {
  dir = h.makeTempDir('grpc-api');
  config = path.join(dir, 'gpufit.yaml');
  // An overlay that changes nothing but still exercises --config: l4 at its default price.
  fs.writeFileSync(config, 'prices: {l4: 0.50}\n');
  daemon = await h.startDaemon({config});
  placement = h.placementClient(daemon.grpcAddress);
});

after(async () => {
  if (placement) placement.close();
  if (daemon) await daemon.stop();
  h.removeDir(dir);
});

test('the serving line reports the catalog version the CLI computes for the same file', () => {
  const catalog = h.cliJson(['catalog', '--catalog', config]);
  assert.equal(daemon.catalogVersion, catalog.version);
  assert.equal(daemon.findLogs((l) => l.msg === 'serving').length, 1, 'exactly one "serving" line');
});

// Every example, the seed's three reference scenarios first.
const EXAMPLES = ['chat-llama3-8b.yaml', 'llama3-70b-int8.yaml', 'mig-small-tenant.yaml',
  ...fs.readdirSync(h.EXAMPLES_DIR).filter((f) => f.endsWith('.yaml')).sort()]
    .filter((f, i, all) => all.indexOf(f) === i);

for (const name of EXAMPLES) {
  test(`Place(${name}) equals gpufit plan --output json`, async () => {
    const file = h.example(name);
    const expected = h.cliJson(['plan', file, '--catalog', config]);
    const response = await h.call(placement, 'Place', {workload: h.workloadFromYaml(file)});
    assert.ok(response.decision, 'PlaceResponse.decision is set');
    // The fields the brief names, first, so that a failure reads plainly...
    const {decision} = response;
    assert.equal(decision.workload_name, expected.workload_name);
    assert.equal(decision.options.length, expected.options.length, 'number of options');
    if (expected.recommendation) {
      assert.ok(decision.recommendation, 'recommendation is set');
      assert.equal(decision.recommendation.accelerator, expected.recommendation.accelerator);
      assert.equal(decision.recommendation.gpus_per_replica, expected.recommendation.gpus_per_replica);
      assert.equal(decision.recommendation.replicas, expected.recommendation.replicas);
    } else {
      assert.equal(decision.recommendation, null, 'no recommendation when nothing is feasible');
    }
    decision.options.forEach((o, i) => {
      const e = expected.options[i];
      const where = `options[${i}]`;
      assert.equal(o.accelerator, e.accelerator, `${where}.accelerator`);
      assert.equal(o.gpus_per_replica, e.gpus_per_replica, `${where}.gpus_per_replica`);
      assert.equal(o.feasible, e.feasible, `${where}.feasible`);
      assert.equal(o.replicas, e.replicas, `${where}.replicas`);
      assert.equal(o.reason, e.reason, `${where}.reason`);
    });
    // ...then the whole message, every field, floats to a relative 1e-9.
    h.assertSameMessage(decision, expected, `Place(${name})`);
  });
}

const PREDICTIONS = [
  {file: 'chat-llama3-8b.yaml', accelerator: 'l4', gpus: 0},
  {file: 'chat-llama3-8b.yaml', accelerator: 'a100-80gb/3g.40gb', gpus: 0},
  {file: 'llama3-70b-int8.yaml', accelerator: 'a100-80gb', gpus: 2},
  {file: 'llama3-70b-int8.yaml', accelerator: 'l4', gpus: 0},  // does not fit: a rejected option
];

for (const p of PREDICTIONS) {
  test(`Predict(${p.file}, ${p.accelerator}, gpus ${p.gpus}) equals gpufit predict`, async () => {
    const file = h.example(p.file);
    const args = ['predict', file, '--accelerator', p.accelerator, '--catalog', config];
    if (p.gpus) args.push('--gpus', String(p.gpus));
    const expected = h.cliJson(args);
    const response = await h.call(placement, 'Predict',
        {workload: h.workloadFromYaml(file), accelerator: p.accelerator, gpus: p.gpus});
    assert.ok(response.option, 'PredictResponse.option is set');
    assert.equal(response.option.accelerator, p.accelerator);
    h.assertSameMessage(response.option, expected, `Predict(${p.file}, ${p.accelerator})`);
    assert.equal(response.catalog_version, daemon.catalogVersion);
  });
}

test('GetCatalog equals gpufit catalog: 8 GPUs, each followed by its MIG slices', async () => {
  const expected = h.cliJson(['catalog', '--catalog', config]);
  const {catalog} = await h.call(placement, 'GetCatalog', {});
  assert.ok(catalog, 'GetCatalogResponse.catalog is set');
  h.assertSameMessage(catalog, expected, 'GetCatalog');
  assert.equal(catalog.version, daemon.catalogVersion);

  const gpus = catalog.accelerators.filter((a) => !a.parent_id).map((a) => a.id);
  assert.deepEqual(gpus, ['t4', 'l4', 'a10g', 'l40s', 'a100-40gb', 'a100-80gb', 'h100-80gb', 'h200-141gb']);
  const slices = catalog.accelerators.filter((a) => a.parent_id);
  for (const gpu of ['a100-40gb', 'a100-80gb', 'h100-80gb', 'h200-141gb']) {
    const mine = slices.filter((s) => s.parent_id === gpu);
    assert.ok(mine.length >= 6, `${gpu}: ${mine.length} MIG slices`);
    for (const s of mine) assert.equal(s.id, `${gpu}/${s.mig_profile}`);
  }
  for (const gpu of ['t4', 'l4', 'a10g', 'l40s']) {
    assert.equal(slices.filter((s) => s.parent_id === gpu).length, 0, `${gpu} has no MIG`);
  }
  assert.ok(catalog.presets.some((p) => p.id === 'llama-3-8b'), 'presets include llama-3-8b');
});

test('grpc.health.v1.Health reports SERVING for the server and for PlacementService', async () => {
  const health = h.healthClient(daemon.grpcAddress);
  try {
    for (const service of ['', 'gpufit.v1.PlacementService']) {
      const response = await h.call(health, 'Check', {service});
      assert.equal(response.status, 'SERVING', `Check("${service}")`);
    }
    await h.expectGrpcError(h.call(health, 'Check', {service: 'no.such.Service'}),
        grpc.status.NOT_FOUND, 'Check of an unknown service');
  } finally {
    health.close();
  }
});

test('server reflection lists PlacementService and health', async () => {
  const reflection = h.reflectionClient(daemon.grpcAddress);
  try {
    const services = await h.listServicesByReflection(reflection);
    assert.ok(services.includes('gpufit.v1.PlacementService'), `services: ${services}`);
    assert.ok(services.includes('grpc.health.v1.Health'), `services: ${services}`);
  } finally {
    reflection.close();
  }
});

test('HTTP /healthz and /readyz answer 200 while serving', async () => {
  for (const p of ['/healthz', '/readyz']) {
    const res = await h.httpGet(`http://${daemon.httpAddress}${p}`);
    assert.equal(res.status, 200, `GET ${p}: ${res.status} ${res.body}`);
  }
});

test('bad input: INVALID_ARGUMENT / NOT_FOUND with the field path, then good calls still work', async () => {
  const good = h.workloadFromYaml(h.example('chat-llama3-8b.yaml'));

  const negative = structuredClone(good);
  negative.traffic.concurrency = -1;
  const err1 = await h.expectGrpcError(h.call(placement, 'Place', {workload: negative}),
      grpc.status.INVALID_ARGUMENT, 'Place with concurrency -1');
  assert.match(err1.details, /^workload\.traffic\.concurrency/, err1.details);

  const unknownModel = structuredClone(good);
  unknownModel.model = 'llama-9-unknown';
  const err2 = await h.expectGrpcError(h.call(placement, 'Place', {workload: unknownModel}),
      grpc.status.NOT_FOUND, 'Place with an unknown model');
  assert.match(err2.details, /^workload\.model/, err2.details);

  const err3 = await h.expectGrpcError(
      h.call(placement, 'Predict', {workload: good, accelerator: 'x100-unknown', gpus: 0}),
      grpc.status.NOT_FOUND, 'Predict on an unknown accelerator');
  assert.match(err3.details, /x100-unknown/, err3.details);

  await h.expectGrpcError(h.call(placement, 'Predict', {workload: good, accelerator: '', gpus: 0}),
      grpc.status.INVALID_ARGUMENT, 'Predict without an accelerator');

  const expected = h.cliJson(['plan', h.example('chat-llama3-8b.yaml'), '--catalog', config]);
  const {decision} = await h.call(placement, 'Place', {workload: good});
  h.assertSameMessage(decision, expected, 'Place after errors');
});

test('concurrent Place calls on one channel all get the same decision', async () => {
  const file = h.example('mig-small-tenant.yaml');
  const expected = h.cliJson(['plan', file, '--catalog', config]);
  const workload = h.workloadFromYaml(file);
  const responses = await Promise.all(
      Array.from({length: 64}, () => h.call(placement, 'Place', {workload})));
  for (const r of responses) h.assertSameMessage(r.decision, expected, 'concurrent Place');
});

test('--max-message-bytes: a larger request is RESOURCE_EXHAUSTED, a small one still works', async () => {
  const small = await h.startDaemon({args: ['--max-message-bytes', '4096']});
  const client = h.placementClient(small.grpcAddress);
  try {
    const workload = h.workloadFromYaml(h.example('chat-llama3-8b.yaml'));
    const huge = {...workload, name: 'x'.repeat(8192)};
    await h.expectGrpcError(h.call(client, 'Place', {workload: huge}),
        grpc.status.RESOURCE_EXHAUSTED, 'Place larger than --max-message-bytes');
    const {decision} = await h.call(client, 'Place', {workload});
    assert.equal(decision.workload_name, workload.name);
  } finally {
    client.close();
    const status = await small.stop();
    assert.equal(status.code, 0);
  }
});
