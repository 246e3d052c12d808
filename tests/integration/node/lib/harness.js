'use strict';
// Shared harness for gpufit's end-to-end tests: starts real processes (gpufitd, Prometheus),
// talks to them only over loopback, and always stops what it started.
//
// Paths come from the environment (CTest sets them, see tests/integration/CMakeLists.txt):
//   GPUFIT_SOURCE_DIR  the repository (default: three levels above this package)
//   GPUFIT_BIN_DIR     where gpufit and gpufitd were built (default: ../../../build)
//   PROMETHEUS_BIN / PROMTOOL_BIN  (default: found on PATH)
//
// Every wait is bounded (waitFor), and no test asserts on how long anything took.

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

let grpc;
let protoLoader;
let YAML;
try {
  grpc = require('@grpc/grpc-js');
  protoLoader = require('@grpc/proto-loader');
  YAML = require('yaml');
} catch (e) {
  throw new Error(
      `gpufit integration tests: npm packages missing (${e.message}); ` +
      'run scripts/install-deps.sh (it runs `npm ci` in tests/integration/node)');
}

const NODE_DIR = path.resolve(__dirname, '..');
const SOURCE_DIR = path.resolve(process.env.GPUFIT_SOURCE_DIR || path.join(NODE_DIR, '..', '..', '..'));
const BIN_DIR = path.resolve(process.env.GPUFIT_BIN_DIR || path.join(NODE_DIR, '..', '..', '..', 'build'));
const GPUFIT = path.join(BIN_DIR, 'gpufit');
const GPUFITD = path.join(BIN_DIR, 'gpufitd');
const EXAMPLES_DIR = path.join(SOURCE_DIR, 'examples');

// Upper bounds for waits. Generous: CI has 2 cores shared by up to two test processes.
const STARTUP_TIMEOUT_MS = 30000;
const RPC_DEADLINE_MS = 30000;

// --- Processes ---------------------------------------------------------------------------

const liveProcesses = new Set();
process.on('exit', () => {
  for (const child of liveProcesses) {
    try { child.kill('SIGKILL'); } catch (_) { /* already gone */ }
  }
});

// Polls `probe` (sync or async) until it returns a truthy value, which is returned. Throws
// after `timeoutMs` with `what` and the last value/error, so failures say what never happened.
async function waitFor(probe, {timeoutMs = 30000, intervalMs = 100, what = 'condition'} = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(intervalMs);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// `promise`'s value, or `fallback` if it has not settled within `ms`. The timer is cleared
// either way, so that it does not keep the test process alive.
function withTimeout(promise, ms, fallback = null) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(fallback), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `gpufit-${prefix}-`));
}

function removeDir(dir) {
  if (dir) fs.rmSync(dir, {recursive: true, force: true});
}

// A child process with its output kept line by line; `exited` resolves {code, signal}.
class Child {
  constructor(command, args, {name, env} = {}) {
    this.name = name || path.basename(command);
    this.command = command;
    this.args = args;
    this.stdoutLines = [];
    this.stderrLines = [];
    this.proc = childProcess.spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env || process.env,
    });
    liveProcesses.add(this.proc);
    this.exitStatus = null;
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.spawnError = err;
        this.exitStatus = {code: null, signal: null, error: err};
        liveProcesses.delete(this.proc);
        resolve(this.exitStatus);
      });
      this.proc.on('close', (code, signal) => {
        this.exitStatus = {code, signal};
        liveProcesses.delete(this.proc);
        resolve(this.exitStatus);
      });
    });
    this._collect(this.proc.stdout, this.stdoutLines);
    this._collect(this.proc.stderr, this.stderrLines);
  }

  _collect(stream, lines) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      partial += chunk;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        lines.push(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
    });
    stream.on('end', () => {
      if (partial) lines.push(partial);
    });
  }

  get pid() {
    return this.proc.pid;
  }

  running() {
    return this.exitStatus === null;
  }

  kill(signal) {
    if (this.running()) this.proc.kill(signal);
  }

  // Sends `signal` and waits at most `timeoutMs` for the exit; SIGKILLs and throws otherwise.
  async stop({signal = 'SIGTERM', timeoutMs = 30000} = {}) {
    if (!this.running()) return this.exitStatus;
    this.proc.kill(signal);
    const status = await withTimeout(this.exited, timeoutMs);
    if (status === null) {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`${this.name} (pid ${this.pid}) did not exit within ${timeoutMs} ms of ${signal}`);
    }
    return status;
  }

  tail(n = 40) {
    return [...this.stderrLines.slice(-n), ...this.stdoutLines.slice(-n)].join('\n');
  }
}

// gpufitd with its JSON log lines parsed. `logs` holds every stderr line as an object
// (non-JSON lines as {raw}).
class Daemon extends Child {
  constructor(args, opts) {
    super(GPUFITD, args, {name: 'gpufitd', ...opts});
  }

  get logs() {
    return this.stderrLines.map((line) => {
      try {
        return JSON.parse(line);
      } catch (_) {
        return {raw: line};
      }
    });
  }

  findLogs(predicate) {
    return this.logs.filter(predicate);
  }

  async waitForLog(predicate, {timeoutMs = 30000, what = 'a log line'} = {}) {
    return waitFor(() => {
      if (!this.running()) throw new Error(`gpufitd exited: ${JSON.stringify(this.exitStatus)}\n${this.tail()}`);
      return this.logs.find(predicate);
    }, {timeoutMs, what});
  }
}

// Starts gpufitd on loopback with kernel-chosen ports and waits for its "serving" line.
// Returns the Daemon with grpcAddress, httpAddress, catalogVersion and the serving log object.
async function startDaemon({config, args = [], timeoutMs = STARTUP_TIMEOUT_MS} = {}) {
  if (!fs.existsSync(GPUFITD)) {
    throw new Error(`gpufitd not found at ${GPUFITD}; build it (scripts/build.sh) or set GPUFIT_BIN_DIR`);
  }
  const argv = ['--grpc-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0', '--log-level', 'info'];
  if (config) argv.push('--config', config);
  argv.push(...args);
  const daemon = new Daemon(argv);
  let serving;
  try {
    serving = await waitFor(() => {
      if (!daemon.running()) {
        throw new Error(`gpufitd exited before serving: ${JSON.stringify(daemon.exitStatus)}\n${daemon.tail()}`);
      }
      return daemon.logs.find((l) => l.msg === 'serving');
    }, {timeoutMs, what: 'gpufitd\'s "serving" log line'});
  } catch (e) {
    daemon.kill('SIGKILL');
    throw e;
  }
  for (const key of ['grpc_address', 'http_address']) {
    assert.match(String(serving[key]), /^127\.0\.0\.1:[1-9][0-9]*$/, `serving line ${key}: ${JSON.stringify(serving)}`);
  }
  daemon.serving = serving;
  daemon.grpcAddress = serving.grpc_address;
  daemon.httpAddress = serving.http_address;
  daemon.catalogVersion = serving.catalog_version;
  return daemon;
}

// A TCP port that was free a moment ago, for peers that cannot report the port they bound
// (Prometheus). Callers retry on a lost race.
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address();
      server.close(() => resolve(port));
    });
  });
}

// --- gRPC ----------------------------------------------------------------------------------

const PROTO_OPTIONS = {
  keepCase: true,  // field names as in the .proto (= the CLI's JSON keys)
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: false,
  oneofs: true,
  includeDirs: [path.join(SOURCE_DIR, 'proto'), path.join(NODE_DIR, 'protos')],
};

let cachedProtos;
function protos() {
  if (!cachedProtos) {
    const packageDefinition = protoLoader.loadSync(
        ['gpufit/v1/placement_service.proto', 'grpc/health/v1/health.proto',
          'grpc/reflection/v1alpha/reflection.proto'],
        PROTO_OPTIONS);
    cachedProtos = {packageDefinition, root: grpc.loadPackageDefinition(packageDefinition)};
  }
  return cachedProtos;
}

function placementClient(address, options = {}) {
  const {root} = protos();
  return new root.gpufit.v1.PlacementService(address, grpc.credentials.createInsecure(), options);
}

function healthClient(address, options = {}) {
  const {root} = protos();
  return new root.grpc.health.v1.Health(address, grpc.credentials.createInsecure(), options);
}

function reflectionClient(address, options = {}) {
  const {root} = protos();
  return new root.grpc.reflection.v1alpha.ServerReflection(
      address, grpc.credentials.createInsecure(), options);
}

// The service names the server lists through reflection (one list_services round trip).
// The stream is cancelled once answered: a call left open would keep its deadline timer,
// and so the test process, alive until the deadline.
function listServicesByReflection(client, {deadlineMs = RPC_DEADLINE_MS} = {}) {
  return new Promise((resolve, reject) => {
    const stream = client.ServerReflectionInfo({deadline: Date.now() + deadlineMs});
    let settled = false;
    const settle = (fn, value) => {
      if (settled) return;
      settled = true;
      fn(value);
      stream.cancel();
    };
    stream.on('data', (response) => {
      if (response.error_response) {
        settle(reject, new Error(`reflection error: ${JSON.stringify(response.error_response)}`));
      } else if (response.list_services_response) {
        settle(resolve, response.list_services_response.service.map((s) => s.name));
      }
    });
    stream.on('error', (err) => settle(reject, err));
    stream.on('end', () => settle(reject, new Error('reflection: no list_services answer')));
    stream.write({host: '', list_services: ''});
  });
}

// Promise form of a unary call with a deadline. Rejects with the grpc-js error (code, details).
function call(client, method, request, {deadlineMs = RPC_DEADLINE_MS} = {}) {
  return new Promise((resolve, reject) => {
    client[method](request, {deadline: Date.now() + deadlineMs}, (err, response) => {
      if (err) reject(err);
      else resolve(response);
    });
  });
}

// Asserts that `promise` rejects with gRPC status `code` (a grpc.status number); returns the error.
async function expectGrpcError(promise, code, what) {
  let response;
  try {
    response = await promise;
  } catch (err) {
    assert.equal(err.code, code,
        `${what}: expected ${statusName(code)}, got ${statusName(err.code)}: ${err.details}`);
    return err;
  }
  assert.fail(`${what}: expected ${statusName(code)}, got OK: ${JSON.stringify(response).slice(0, 300)}`);
}

function statusName(code) {
  return Object.keys(grpc.status).find((k) => grpc.status[k] === code) || String(code);
}

// --- Workloads ---------------------------------------------------------------------------

// The YAML workload format uses the proto field names, with enum values in kebab case
// ("fp8", "llm-inference", "fine-tune-qlora"). Converts a parsed YAML object into the object
// proto-loader serializes as `typeName`, walking the message descriptors so that a key the
// proto does not have fails the test instead of being dropped silently.
function yamlToProtoObject(value, typeName, fieldPath) {
  const {packageDefinition} = protos();
  const entry = packageDefinition[typeName];
  assert.ok(entry && entry.type, `no message type ${typeName}`);
  const out = {};
  for (const [key, v] of Object.entries(value)) {
    const field = entry.type.field.find((f) => f.name === key);
    assert.ok(field, `${fieldPath}${key}: not a field of ${typeName}`);
    const convert = (item) => {
      if (field.type === 'TYPE_MESSAGE') {
        return yamlToProtoObject(item, resolveType(field.typeName, typeName), `${fieldPath}${key}.`);
      }
      if (field.type === 'TYPE_ENUM') {
        const enumName = resolveType(field.typeName, typeName).split('.').pop();
        const prefix = enumName.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
        return `${prefix}_${String(item).toUpperCase().replace(/-/g, '_')}`;
      }
      return item;
    };
    out[key] = field.label === 'LABEL_REPEATED' ? v.map(convert) : convert(v);
  }
  return out;
}

// A field's type name as written in the descriptor ("Traffic", ".gpufit.v1.Traffic") as the
// fully qualified key of the package definition, searched from the enclosing message's scope.
function resolveType(name, scope) {
  const {packageDefinition} = protos();
  if (name.startsWith('.')) return name.slice(1);
  const parts = scope.split('.');
  for (let i = parts.length; i >= 0; --i) {
    const candidate = [...parts.slice(0, i), name].join('.');
    if (packageDefinition[candidate]) return candidate;
  }
  throw new Error(`cannot resolve type ${name} from ${scope}`);
}

function readYamlFile(file) {
  return YAML.parse(fs.readFileSync(file, 'utf8'));
}

// The gpufit.v1.Workload object for a workload YAML file (e.g. one of examples/).
function workloadFromYaml(file) {
  return yamlToProtoObject(readYamlFile(file), 'gpufit.v1.Workload', '');
}

function example(name) {
  return path.join(EXAMPLES_DIR, name);
}

// --- The gpufit CLI ------------------------------------------------------------------------

// Runs `gpufit ARGS --output json` and returns the parsed JSON document.
function cliJson(args) {
  if (!fs.existsSync(GPUFIT)) throw new Error(`gpufit not found at ${GPUFIT}; set GPUFIT_BIN_DIR`);
  const result = childProcess.spawnSync(GPUFIT, [...args, '--output', 'json'], {encoding: 'utf8', timeout: 60000});
  assert.equal(result.status, 0, `gpufit ${args.join(' ')} failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

// --- Comparing messages ------------------------------------------------------------------

const FLOAT_RELATIVE_TOLERANCE = 1e-9;

function isEmpty(v) {
  return v === undefined || v === null || (Array.isArray(v) && v.length === 0);
}

function asNumber(v) {
  // proto3 JSON spells non-finite doubles as strings.
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === 'NaN') return NaN;
  return v;
}

// Deep equality of a decoded gRPC message (`actual`) and the CLI's proto3 JSON of the same
// message (`expected`): numbers within a relative 1e-9 (the two are printed/serialized
// differently), unset sub-messages and empty lists equal to absent ones. Returns a list of
// differences ("options[3].replicas: 2 != 3"), empty when equal.
function diffMessages(actual, expected, where = '', out = []) {
  if (isEmpty(actual) && isEmpty(expected)) return out;
  const a = asNumber(actual);
  const e = asNumber(expected);
  if (typeof a === 'number' || typeof e === 'number') {
    if (typeof a !== 'number' || typeof e !== 'number') {
      out.push(`${where}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`);
    } else if (!(Object.is(a, e) || a === e ||
                 Math.abs(a - e) <= FLOAT_RELATIVE_TOLERANCE * Math.max(Math.abs(a), Math.abs(e)))) {
      out.push(`${where}: ${a} != ${e}`);
    }
    return out;
  }
  if (Array.isArray(a) || Array.isArray(e)) {
    if (!Array.isArray(a) || !Array.isArray(e) || a.length !== e.length) {
      out.push(`${where}: list of ${Array.isArray(a) ? a.length : typeof a} != list of ${Array.isArray(e) ? e.length : typeof e}`);
      return out;
    }
    a.forEach((item, i) => diffMessages(item, e[i], `${where}[${i}]`, out));
    return out;
  }
  if (a !== null && e !== null && typeof a === 'object' && typeof e === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(e)]);
    for (const k of keys) diffMessages(a[k], e[k], where ? `${where}.${k}` : k, out);
    return out;
  }
  if (a !== e) out.push(`${where}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`);
  return out;
}

function assertSameMessage(actual, expected, what) {
  const diffs = diffMessages(actual, expected);
  assert.deepEqual(diffs, [], `${what}: ${diffs.length} differences:\n  ${diffs.slice(0, 20).join('\n  ')}`);
}

// --- HTTP and Prometheus text -------------------------------------------------------------

function httpGet(url, {timeoutMs = 10000} = {}) {
  return new Promise((resolve, reject) => {
    // agent: false = one connection per request, closed after it: a kept-alive connection
    // would hold the daemon's HTTP server open for its keep-alive timeout at shutdown.
    const req = http.get(url, {timeout: timeoutMs, agent: false}, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({status: res.statusCode, headers: res.headers, body}));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

// A Kubernetes Node with two L4 GPUs, labelled as GPU Feature Discovery does (for the
// scheduler extender and the node cache).
function l4NodeObject(name, resourceVersion = 1) {
  const alloc = {'cpu': '23860m', 'memory': '97630928Ki', 'pods': '110', 'nvidia.com/gpu': '2'};
  return {
    kind: 'Node', apiVersion: 'v1',
    metadata: {
      name, uid: `uid-${name}`, resourceVersion: String(resourceVersion),
      labels: {
        'kubernetes.io/hostname': name, 'nvidia.com/gpu.product': 'NVIDIA-L4',
        'nvidia.com/gpu.count': '2', 'nvidia.com/gpu.memory': '23034', 'nvidia.com/mig.strategy': 'none',
      },
    },
    status: {capacity: alloc, allocatable: alloc, conditions: [{type: 'Ready', status: 'True'}]},
  };
}

// POSTs `body` (an object, sent as JSON) to `url`; resolves {status, headers, body} with the
// body as text. One connection per request, like httpGet.
function httpPostJson(url, body, {timeoutMs = 30000} = {}) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(url, {
      method: 'POST', timeout: timeoutMs, agent: false,
      headers: {'Content-Type': 'application/json', 'Content-Length': data.length},
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({status: res.statusCode, headers: res.headers, body: text}));
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

// Parses the Prometheus text exposition format into [{name, labels, value}] (comments
// skipped). Enough for the metrics gpufitd writes: no timestamps needed, escaped label values.
function parsePrometheusText(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/g;
      let lm;
      while ((lm = re.exec(m[3])) !== null) {
        labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
    }
    samples.push({name: m[1], labels, value: Number(asNumber(m[4] === '+Inf' ? 'Infinity' : m[4]))});
  }
  return samples;
}

async function scrape(daemon) {
  const res = await httpGet(`http://${daemon.httpAddress}/metrics`);
  assert.equal(res.status, 200, `GET /metrics: ${res.status}`);
  return parsePrometheusText(res.body);
}

// The value of the one sample named `name` whose labels include `labels`; undefined if none.
function sampleValue(samples, name, labels = {}) {
  const matches = samples.filter((s) => s.name === name &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(matches.length <= 1, `${name}${JSON.stringify(labels)}: ${matches.length} samples match`);
  return matches.length ? matches[0].value : undefined;
}


// Starts a real Prometheus server on a free loopback port scraping `target` every second as
// job `job`, with its config and storage under `dir`. Retries on a port race; returns
// {child, url}. `extraArgs` go on Prometheus's command line; `scrape` adds keys to the scrape
// config (e.g. scheme and tls_config).
async function startPrometheus({dir, job, target, extraArgs = [], scrape = {}}) {
  const binary = process.env.PROMETHEUS_BIN || 'prometheus';
  const configFile = path.join(dir, `prometheus-${job}.yml`);
  fs.writeFileSync(configFile, YAML.stringify({
    global: {scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s'},
    scrape_configs: [{job_name: job, static_configs: [{targets: [target]}], ...scrape}],
  }));
  let lastError;
  for (let attempt = 0; attempt < 5; ++attempt) {
    const port = await freePort();
    const storage = makeTempDir(`${job}-tsdb`);
    const child = new Child(binary, [`--config.file=${configFile}`, `--storage.tsdb.path=${storage}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn', ...extraArgs],
    {name: 'prometheus'});
    child.storage = storage;
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(async () => {
        if (!child.running()) throw new Error(`prometheus exited: ${child.tail(10)}`);
        return (await httpGet(`${url}/-/ready`, {timeoutMs: 2000})).status === 200;
      }, {timeoutMs: 60000, intervalMs: 200, what: 'Prometheus /-/ready'});
      return {child, url};
    } catch (e) {
      lastError = e;
      if (child.spawnError) break;
      await child.stop({signal: 'SIGKILL'}).catch(() => {});
      removeDir(storage);
    }
  }
  throw new Error(`could not start ${binary}: ${lastError && lastError.message}`);
}

// An instant PromQL query against the Prometheus at `url`: [{labels, value}].
async function promQuery(url, expr) {
  const res = await httpGet(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  if (res.status !== 200) throw new Error(`query ${expr}: HTTP ${res.status} ${res.body}`);
  const body = JSON.parse(res.body);
  if (body.status !== 'success') throw new Error(`query ${expr}: ${res.body}`);
  return body.data.result.map((r) => ({labels: r.metric, value: Number(r.value[1])}));
}

module.exports = {
  startPrometheus,
  promQuery,
  BIN_DIR,
  EXAMPLES_DIR,
  GPUFIT,
  GPUFITD,
  NODE_DIR,
  SOURCE_DIR,
  Child,
  assertSameMessage,
  call,
  cliJson,
  diffMessages,
  example,
  expectGrpcError,
  freePort,
  grpc,
  healthClient,
  listServicesByReflection,
  reflectionClient,
  httpGet,
  httpPostJson,
  l4NodeObject,
  makeTempDir,
  parsePrometheusText,
  placementClient,
  protos,
  readYamlFile,
  removeDir,
  sampleValue,
  scrape,
  sleep,
  startDaemon,
  statusName,
  waitFor,
  withTimeout,
  workloadFromYaml,
  yamlToProtoObject,
};
