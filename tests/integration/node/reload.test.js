'use strict';
// Config hot reload without a restart: a changed --config file is picked up by polling and on
// SIGHUP; an invalid one is rejected and the previous config keeps serving. A path that is
// not a config file (a FIFO, a symlink to /dev/zero) is a failed reload that blocks nothing.
//
// The observable: one configured workload restricted to L4, so the L4 price in the file
// shows up in Place answers and in gpufit_workload_cost_usd_per_hour. Expected values come
// from the CLI on the same catalog text, never from constants restated here.

const {test, after} = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const h = require('./lib/harness');

const RELOAD_TIMEOUT_MS = 30000;

// The configured workload: the seed chat workload on L4 only.
const WORKLOAD = {...h.readYamlFile(h.example('chat-llama3-8b.yaml')), name: 'reload-chat', accelerators: ['l4']};
const EXTRA_WORKLOAD = {...h.readYamlFile(h.example('mig-small-tenant.yaml')), name: 'reload-extra'};

const dirs = [];
after(() => dirs.forEach(h.removeDir));

// A gpufitd config file the test rewrites. Each write goes to a temporary file that is then
// renamed over the config (a reader never sees half a file), with an mtime at least two
// seconds after the previous one so that a change is visible even to a whole-second mtime check.
class ConfigFile {
  constructor(dir) {
    this.dir = dir;
    this.path = path.join(dir, 'gpufit.yaml');
    this.lastMtimeMs = 0;
    this.writes = 0;
  }

  write(text) {
    const tmp = path.join(this.dir, `.gpufit.yaml.${++this.writes}`);
    fs.writeFileSync(tmp, text);
    const mtimeMs = Math.max(Date.now(), this.lastMtimeMs + 2000);
    fs.utimesSync(tmp, new Date(mtimeMs), new Date(mtimeMs));
    fs.renameSync(tmp, this.path);
    this.lastMtimeMs = mtimeMs;
  }

  // Rewrites the file where it is (open with O_TRUNC, write), as `cat > file` or an editor
  // without write-then-rename does: a reader can see it empty or half-written.
  writeInPlace(text) {
    fs.writeFileSync(this.path, text);
    const mtimeMs = Math.max(Date.now(), this.lastMtimeMs + 2000);
    fs.utimesSync(this.path, new Date(mtimeMs), new Date(mtimeMs));
    this.lastMtimeMs = mtimeMs;
  }

  remove() {
    fs.rmSync(this.path);
  }

  // A valid config: an L4 price and the given workloads.
  writeValid(l4Price, workloads) {
    this.write(YAML.stringify({prices: {l4: l4Price}, workloads}));
  }
}

// What the CLI plans for `workload` with `l4Price` in force (catalog overlay without workloads).
function cliPlan(dir, workload, l4Price) {
  const catalog = path.join(dir, `catalog-${l4Price}.yaml`);
  fs.writeFileSync(catalog, YAML.stringify({prices: {l4: l4Price}}));
  const file = path.join(dir, `${workload.name}.yaml`);
  fs.writeFileSync(file, YAML.stringify(workload));
  return h.cliJson(['plan', file, '--catalog', catalog]);
}

async function metric(daemon, name, labels) {
  return h.sampleValue(await h.scrape(daemon), name, labels);
}

async function reloads(daemon, result) {
  return (await metric(daemon, 'gpufit_config_reloads_total', {result})) || 0;
}

// Place for the configured workload; the decision without catalog_version (the daemon's
// version also hashes the workloads in its file, the CLI's only the catalog overlay).
async function place(client, workload) {
  const {decision} = await h.call(client, 'Place', {workload: h.yamlToProtoObject(workload, 'gpufit.v1.Workload', '')});
  return decision;
}

function withoutVersion(decision) {
  const copy = structuredClone(decision);
  delete copy.catalog_version;
  return copy;
}

function close(actual, expected) {
  return actual !== undefined && Math.abs(actual - expected) <= 1e-9 * Math.abs(expected);
}

async function waitForCost(daemon, workloadName, expectedCost, what) {
  return h.waitFor(async () => {
    const v = await metric(daemon, 'gpufit_workload_cost_usd_per_hour', {workload: workloadName});
    return close(v, expectedCost);
  }, {timeoutMs: RELOAD_TIMEOUT_MS, intervalMs: 200, what});
}

// A fresh directory (removed after the tests) with a config file holding config A: WORKLOAD
// with the L4 at 0.5 $/h.
function startingConfig(name) {
  const dir = h.makeTempDir(name);
  dirs.push(dir);
  const config = new ConfigFile(dir);
  config.writeValid(0.5, [WORKLOAD]);
  return {dir, config};
}

// Runs `body(daemon, client)` with gpufitd serving `config` (polled every `pollSeconds`) and a
// PlacementService client; then gpufitd is stopped, and must exit 0, whatever the body did.
async function withDaemon(config, pollSeconds, body) {
  const daemon = await h.startDaemon({config: config.path, args: ['--reload-poll-seconds', String(pollSeconds)]});
  const client = h.placementClient(daemon.grpcAddress);
  try {
    await body(daemon, client);
  } finally {
    client.close();
    const status = await daemon.stop();
    assert.equal(status.code, 0, `gpufitd exit ${JSON.stringify(status)}`);
  }
}

test('file changes reload by polling; an invalid file keeps the old config serving', async () => {
  const {dir, config} = startingConfig('reload-poll');
  const planA = cliPlan(dir, WORKLOAD, 0.5);
  const planB = cliPlan(dir, WORKLOAD, 9.99);
  const planC = cliPlan(dir, WORKLOAD, 1.25);
  const planExtra = cliPlan(dir, EXTRA_WORKLOAD, 9.99);
  assert.notEqual(planA.recommendation.cost_usd_per_hour, planB.recommendation.cost_usd_per_hour);

  await withDaemon(config, 1, async (daemon, client) => {
    // A: as started.
    await waitForCost(daemon, WORKLOAD.name, planA.recommendation.cost_usd_per_hour, 'config A cost metric');
    const decisionA = await place(client, WORKLOAD);
    h.assertSameMessage(withoutVersion(decisionA), withoutVersion(planA), 'Place under config A');
    const success0 = await reloads(daemon, 'success');
    const failure0 = await reloads(daemon, 'failure');
    const servingVersion = daemon.catalogVersion;

    // B: L4 at $9.99/h and a second workload, picked up without a restart.
    config.writeValid(9.99, [WORKLOAD, EXTRA_WORKLOAD]);
    await waitForCost(daemon, WORKLOAD.name, planB.recommendation.cost_usd_per_hour,
        'the cost metric to reflect the new L4 price');
    assert.ok(await reloads(daemon, 'success') >= success0 + 1, 'reloads_total{result="success"} incremented');
    const extraReplicas = await metric(daemon, 'gpufit_workload_recommended_replicas',
        {workload: EXTRA_WORKLOAD.name, accelerator: planExtra.recommendation.accelerator});
    assert.equal(extraReplicas, planExtra.recommendation.replicas, 'the added workload has its gauge');
    const decisionB = await place(client, WORKLOAD);
    h.assertSameMessage(withoutVersion(decisionB), withoutVersion(planB), 'Place under config B');
    assert.notEqual(decisionB.catalog_version, decisionA.catalog_version, 'a new catalog version');
    assert.equal(decisionA.catalog_version, servingVersion);
    const samples = await h.scrape(daemon);
    assert.equal(h.sampleValue(samples, 'gpufit_config_info', {version: decisionB.catalog_version}), 1,
        'config_info carries the new version');
    const old = h.sampleValue(samples, 'gpufit_config_info', {version: decisionA.catalog_version});
    assert.ok(old === undefined || old === 0, `config_info for the old version is gone or 0 (${old})`);
    assert.ok(h.sampleValue(samples, 'gpufit_config_last_reload_success_timestamp_seconds') > 1.6e9,
        'last successful reload is a Unix time');
    const successB = await reloads(daemon, 'success');

    // Invalid: a negative price, then truncated YAML. Each is rejected and B keeps serving.
    const invalidTexts = ['prices: {l4: -1}\n', 'prices: {l4: 0.5\nworkloads:\n  - name: [\n'];
    for (const [i, text] of invalidTexts.entries()) {
      const failuresBefore = await reloads(daemon, 'failure');
      const logsBefore = daemon.findLogs((l) => l.msg === 'config reload failed').length;
      config.write(text);
      await h.waitFor(async () => (await reloads(daemon, 'failure')) >= failuresBefore + 1,
          {timeoutMs: RELOAD_TIMEOUT_MS, intervalMs: 200, what: `reloads_total{result="failure"} after invalid file ${i}`});
      await daemon.waitForLog((l) => l.msg === 'config reload failed' &&
          daemon.findLogs((x) => x.msg === 'config reload failed').length > logsBefore,
      {timeoutMs: RELOAD_TIMEOUT_MS, what: '"config reload failed" in the log'});
      assert.ok(daemon.running(), 'gpufitd still running');
      const decision = await place(client, WORKLOAD);
      h.assertSameMessage(decision, decisionB, `Place after invalid file ${i} (unchanged)`);
      const cost = await metric(daemon, 'gpufit_workload_cost_usd_per_hour', {workload: WORKLOAD.name});
      assert.ok(close(cost, planB.recommendation.cost_usd_per_hour), `cost metric unchanged (${cost})`);
      assert.equal(await reloads(daemon, 'success'), successB, 'no successful reload counted');
    }
    assert.ok(await reloads(daemon, 'failure') >= failure0 + invalidTexts.length);

    // C: valid again; the daemon recovers.
    config.writeValid(1.25, [WORKLOAD]);
    await waitForCost(daemon, WORKLOAD.name, planC.recommendation.cost_usd_per_hour, 'config C after the invalid ones');
    h.assertSameMessage(withoutVersion(await place(client, WORKLOAD)), withoutVersion(planC), 'Place under config C');
    assert.ok(await reloads(daemon, 'success') >= successB + 1);
    const extraGone = await metric(daemon, 'gpufit_workload_cost_usd_per_hour', {workload: EXTRA_WORKLOAD.name});
    assert.equal(extraGone, undefined, 'a workload removed from the file loses its series');
  });
});

test('SIGHUP reloads the config; an invalid file on SIGHUP keeps the old one', async () => {
  const {dir, config} = startingConfig('reload-hup');
  const planA = cliPlan(dir, WORKLOAD, 0.5);
  const planB = cliPlan(dir, WORKLOAD, 9.99);

  // Polling an hour apart: within this test only SIGHUP can cause a reload.
  await withDaemon(config, 3600, async (daemon, client) => {
    await waitForCost(daemon, WORKLOAD.name, planA.recommendation.cost_usd_per_hour, 'config A cost metric');
    const success0 = await reloads(daemon, 'success');
    const failure0 = await reloads(daemon, 'failure');

    config.writeValid(9.99, [WORKLOAD]);
    daemon.kill('SIGHUP');
    await waitForCost(daemon, WORKLOAD.name, planB.recommendation.cost_usd_per_hour, 'the cost metric after SIGHUP');
    assert.equal(await reloads(daemon, 'success'), success0 + 1, 'one successful reload');
    const decisionB = await place(client, WORKLOAD);
    h.assertSameMessage(withoutVersion(decisionB), withoutVersion(planB), 'Place after SIGHUP');

    config.write('prices: {l4: -1}\n');
    daemon.kill('SIGHUP');
    await h.waitFor(async () => (await reloads(daemon, 'failure')) === failure0 + 1,
        {timeoutMs: RELOAD_TIMEOUT_MS, intervalMs: 200, what: 'one failed reload after SIGHUP'});
    await daemon.waitForLog((l) => l.msg === 'config reload failed', {timeoutMs: RELOAD_TIMEOUT_MS});
    h.assertSameMessage(await place(client, WORKLOAD), decisionB, 'Place after the rejected SIGHUP reload');
    assert.equal(await reloads(daemon, 'success'), success0 + 1);
    assert.ok(daemon.running(), 'SIGHUP does not stop gpufitd');
  });
});

test('config deleted, half-written in place, garbage, then fixed: the old config serves and stays ready', async () => {
  const {dir, config} = startingConfig('reload-faults');
  const planA = cliPlan(dir, WORKLOAD, 0.5);
  const planC = cliPlan(dir, WORKLOAD, 1.25);
  // The file the last step writes; the half-written step is its first part, cut inside the
  // flow mapping of the first line (a prefix no YAML parser accepts).
  const textC = `prices: {l4: 1.25, a100-80gb: 3.0}\n${YAML.stringify({workloads: [WORKLOAD]})}`;
  const halfC = textC.slice(0, textC.indexOf('a100-80gb') + 3);

  await withDaemon(config, 1, async (daemon, client) => {
    await waitForCost(daemon, WORKLOAD.name, planA.recommendation.cost_usd_per_hour, 'config A cost metric');
    const decisionA = await place(client, WORKLOAD);
    h.assertSameMessage(withoutVersion(decisionA), withoutVersion(planA), 'Place under config A');
    const success0 = await reloads(daemon, 'success');

    const faults = [
      ['deleted', () => config.remove(), /: cannot read: No such file/],
      ['half-written', () => config.writeInPlace(halfC), /invalid YAML/],
      ['garbage', () => config.writeInPlace(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0xff, 0x3a, 0x0a, 0x2d, 0x09, 0x5b])), /./],
    ];
    for (const [what, fault, message] of faults) {
      const failuresBefore = await reloads(daemon, 'failure');
      const logsBefore = daemon.findLogs((l) => l.msg === 'config reload failed').length;
      fault();
      // Polled until the daemon has read this state (its error names it), not an earlier one.
      const logged = await h.waitFor(() => daemon.findLogs((l) => l.msg === 'config reload failed')
          .slice(logsBefore).find((l) => message.test(l.error)),
      {timeoutMs: RELOAD_TIMEOUT_MS, what: `"config reload failed" for the ${what} file`});
      assert.equal(logged.config, config.path, `the log names the file (${what})`);
      assert.ok(await reloads(daemon, 'failure') >= failuresBefore + 1, `reloads_total{result="failure"} (${what})`);
      assert.ok(daemon.running(), `gpufitd running (${what})`);
      assert.equal((await h.httpGet(`http://${daemon.httpAddress}/readyz`)).status, 200, `/readyz (${what})`);
      h.assertSameMessage(await place(client, WORKLOAD), decisionA, `Place with the ${what} file (config A)`);
      const cost = await metric(daemon, 'gpufit_workload_cost_usd_per_hour', {workload: WORKLOAD.name});
      assert.ok(close(cost, planA.recommendation.cost_usd_per_hour), `cost metric unchanged (${what}): ${cost}`);
      assert.equal(await reloads(daemon, 'success'), success0, `no successful reload (${what})`);
    }

    // Fixed: the rest of the write lands and the whole file is picked up.
    config.writeInPlace(textC);
    await waitForCost(daemon, WORKLOAD.name, planC.recommendation.cost_usd_per_hour, 'the fixed config');
    h.assertSameMessage(withoutVersion(await place(client, WORKLOAD)), withoutVersion(planC), 'Place under the fixed config');
    assert.ok(await reloads(daemon, 'success') >= success0 + 1);
    assert.equal((await h.httpGet(`http://${daemon.httpAddress}/readyz`)).status, 200);
  });
});

// Issue 13: a config path that is a FIFO blocked the reload thread (and with it SIGHUP and
// SIGTERM); a symlink to /dev/zero grew RSS by ~140 MB/s. Both are failed reloads now: the old
// config serves, RSS stays put, SIGHUP and SIGTERM are answered.
function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

test('config replaced by a FIFO or a symlink to /dev/zero: failed reloads; SIGHUP and SIGTERM still answered', async () => {
  const {dir, config} = startingConfig('reload-special');
  const planA = cliPlan(dir, WORKLOAD, 0.5);
  const daemon = await h.startDaemon({config: config.path, args: ['--reload-poll-seconds', '1']});
  const client = h.placementClient(daemon.grpcAddress);
  try {
    await waitForCost(daemon, WORKLOAD.name, planA.recommendation.cost_usd_per_hour, 'config A cost metric');
    const decisionA = await place(client, WORKLOAD);
    const success0 = await reloads(daemon, 'success');
    const rss0 = rssBytes(daemon.pid);
    const special = [
      ['FIFO', (p) => childProcess.execFileSync('mkfifo', [p]), /: cannot read: is a FIFO \(named pipe\), not a regular file$/],
      ['symlink to /dev/zero', (p) => fs.symlinkSync('/dev/zero', p), /: cannot read: is a character device, not a regular file$/],
    ];
    for (const [what, make, message] of special) {
      const failuresBefore = await reloads(daemon, 'failure');
      const logsBefore = daemon.findLogs((l) => l.msg === 'config reload failed').length;
      const tmp = path.join(dir, '.special');
      fs.rmSync(tmp, {force: true});
      make(tmp);
      fs.renameSync(tmp, config.path);
      daemon.kill('SIGHUP');
      const logged = await h.waitFor(() => daemon.findLogs((l) => l.msg === 'config reload failed')
          .slice(logsBefore).find((l) => message.test(l.error)),
      {timeoutMs: RELOAD_TIMEOUT_MS, what: `"config reload failed" for the ${what}`});
      assert.equal(logged.config, config.path);
      assert.ok(await reloads(daemon, 'failure') >= failuresBefore + 1, `counted (${what})`);
      // SIGHUP again while it is still there: answered again, not stuck behind the first.
      daemon.kill('SIGHUP');
      await h.waitFor(async () => (await reloads(daemon, 'failure')) >= failuresBefore + 2,
          {timeoutMs: RELOAD_TIMEOUT_MS, intervalMs: 200, what: `a second failed reload (${what})`});
      assert.ok(daemon.running(), `gpufitd running (${what})`);
      assert.equal((await h.httpGet(`http://${daemon.httpAddress}/readyz`)).status, 200, `/readyz (${what})`);
      h.assertSameMessage(await place(client, WORKLOAD), decisionA, `Place with the ${what} (config A)`);
      assert.equal(await reloads(daemon, 'success'), success0, `no successful reload (${what})`);
    }
    // Nothing was read from /dev/zero (the probe saw ~140 MB/s); 32 MiB is far above noise.
    assert.ok(rssBytes(daemon.pid) - rss0 < 32 * 1024 * 1024,
        `RSS grew from ${rss0} to ${rssBytes(daemon.pid)} bytes`);
    // The FIFO again, and SIGTERM with it in place.
    fs.rmSync(config.path, {force: true});
    childProcess.execFileSync('mkfifo', [config.path]);
  } finally {
    client.close();
    const status = await daemon.stop({timeoutMs: 20000});
    assert.equal(status.code, 0, `gpufitd exit ${JSON.stringify(status)}`);
  }
});
