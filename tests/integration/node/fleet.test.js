'use strict';
// PlanFleet through an independent client (@grpc/grpc-js): the plan for a fleet file equals
// `gpufit fleet FILE --output json` (one conversion, one solver), and errors carry the
// documented codes and request field paths.

const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const h = require('./lib/harness');
const {fleetFromYaml} = require('./lib/fleet');

const {grpc} = h;

const FLEET_DIR = path.join(h.EXAMPLES_DIR, 'fleet');
// A fleet solve takes up to its time limit (1 s by default) plus the single-type fleets.
const DEADLINE_MS = 30000;

let dir;
let daemon;
let placement;

before(async () => {
  dir = h.makeTempDir('fleet');
  daemon = await h.startDaemon({});
  placement = h.placementClient(daemon.grpcAddress);
});

after(async () => {
  if (placement) placement.close();
  if (daemon) await daemon.stop();
  h.removeDir(dir);
});

function withoutSolveTime(plan) {
  const {solve_time: _ignored, ...rest} = plan;
  return rest;
}

test('PlanFleet(seven-tenants.yaml) equals gpufit fleet --output json', async () => {
  const file = path.join(FLEET_DIR, 'seven-tenants.yaml');
  const expected = h.cliJson(['fleet', file]);
  const response = await h.call(placement, 'PlanFleet', {fleet: fleetFromYaml(file)},
      {deadlineMs: DEADLINE_MS});
  const {plan} = response;
  assert.ok(plan, 'PlanFleetResponse.plan is set');
  assert.equal(response.catalog_version, daemon.catalogVersion);
  // The seed's multi-tenant case: one A100 80GB as 7 x 1g.10gb.
  assert.equal(plan.method, 'FLEET_SOLVE_METHOD_MIP');
  assert.equal(plan.optimal, true);
  assert.equal(plan.cost_usd_per_hour, expected.cost_usd_per_hour);
  assert.equal(plan.gpus.length, 1);
  assert.equal(plan.gpus[0].accelerator, 'a100-80gb');
  assert.equal(plan.gpus[0].mig_layouts[0].mig_config, 'a100-80gb-7x1g.10gb');
  assert.equal(plan.gpus[0].mig_layouts[0].instances.length, 7);
  assert.match(plan.mig_parted_config, /a100-80gb-7x1g\.10gb:/);
  const diffs = h.diffMessages(withoutSolveTime(plan), withoutSolveTime(expected));
  assert.deepEqual(diffs, [], `PlanFleet differs from the CLI:\n${diffs.join('\n')}`);
});

test('PlanFleet errors: codes and request field paths', async () => {
  const file = path.join(FLEET_DIR, 'seven-tenants.yaml');
  const bad = fleetFromYaml(file);
  bad.workloads[3].workload.traffic.concurrency = -2;
  let err = await h.expectGrpcError(h.call(placement, 'PlanFleet', {fleet: bad}, {deadlineMs: DEADLINE_MS}),
      grpc.status.INVALID_ARGUMENT, 'negative concurrency');
  assert.match(err.details, /^fleet\.workloads\[3\]\.workload\.traffic\.concurrency: must be > 0/);

  const unknown = fleetFromYaml(file);
  unknown.accelerators = ['l4', 'x100'];
  err = await h.expectGrpcError(h.call(placement, 'PlanFleet', {fleet: unknown}, {deadlineMs: DEADLINE_MS}),
      grpc.status.NOT_FOUND, 'unknown GPU');
  assert.match(err.details, /^fleet\.accelerators\[1\]: unknown GPU 'x100'/);

  err = await h.expectGrpcError(h.call(placement, 'PlanFleet', {fleet: {}}, {deadlineMs: DEADLINE_MS}),
      grpc.status.INVALID_ARGUMENT, 'empty fleet');
  assert.match(err.details, /^fleet\.workloads: must not be empty/);
});
