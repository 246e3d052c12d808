'use strict';
// Helpers for driving gpufitd as a KEDA external scaler, shared by the integration test
// (keda.test.js) and the dashboard test (tests/deploy/dashboards.test.js): a stand-in for
// vLLM's /metrics whose gauge the test sets, the wait for Prometheus to see a value, and
// independent gRPC clients for KEDA's externalscaler protocol and gpufit.v1.AutoscalingService
// (@grpc/grpc-js with proto/externalscaler/externalscaler.proto's field names).

const http = require('node:http');
const path = require('node:path');
const h = require('./harness');

const protoLoader = require('@grpc/proto-loader');

// The stand-in for vLLM's /metrics: one gauge `metric{labels}` whose value is `exporter.value`.
// Resolves {server, address ("127.0.0.1:PORT"), value, close()}.
function startLoadExporter({metric, labels = {}, value = 0}) {
  const labelText = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
  const exporter = {value};
  const server = http.createServer((req, res) => {
    res.writeHead(200, {'Content-Type': 'text/plain; version=0.0.4'});
    res.end(`# HELP ${metric} Requests running.\n# TYPE ${metric} gauge\n` +
            `${metric}{${labelText}} ${exporter.value}\n`);
  });
  server.keepAliveTimeout = 1000;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      exporter.server = server;
      exporter.address = `127.0.0.1:${server.address().port}`;
      exporter.close = () => new Promise((done) => server.close(done));
      resolve(exporter);
    });
  });
}

// Waits until the Prometheus at `url` answers `query` with the single value `value`.
async function waitForQueryValue(url, query, value) {
  await h.waitFor(async () => {
    const series = await h.promQuery(url, query);
    return series.length === 1 && series[0].value === value;
  }, {timeoutMs: 60000, intervalMs: 250, what: `Prometheus to answer ${query} with ${value}`});
}

// {scaler: externalscaler.ExternalScaler, autoscaling: gpufit.v1.AutoscalingService} clients
// for the gRPC server at `address` (plaintext).
function kedaClients(address) {
  const definition = protoLoader.loadSync(
      ['externalscaler/externalscaler.proto', 'gpufit/v1/autoscaling.proto'],
      {keepCase: true, longs: String, enums: String, defaults: true, arrays: true,
        includeDirs: [path.join(h.SOURCE_DIR, 'proto')]});
  const root = h.grpc.loadPackageDefinition(definition);
  return {
    scaler: new root.externalscaler.ExternalScaler(address, h.grpc.credentials.createInsecure()),
    autoscaling: new root.gpufit.v1.AutoscalingService(address, h.grpc.credentials.createInsecure()),
  };
}

// A ScaledObjectRef as KEDA sends it.
function scaledObjectRef(metadata, {name = 'vllm-llama3-8b', namespace = 'serving'} = {}) {
  return {name, namespace, scalerMetadata: metadata};
}

module.exports = {kedaClients, scaledObjectRef, startLoadExporter, waitForQueryValue};
