'use strict';
// gpufit.v1.FleetRequest objects from fleet YAML files (examples/fleet/), for PlanFleet calls
// from the integration tests and the dashboard test (tests/deploy).

const assert = require('node:assert/strict');
const h = require('./harness');

// The FleetRequest for a fleet YAML file without `measured:` entries (those name files the CLI
// reads; the RPC takes the numbers).
function fleetFromYaml(file) {
  const yaml = h.readYamlFile(file);
  assert.equal(yaml.measured, undefined, 'fleetFromYaml: measured entries are not converted');
  const fleet = {name: yaml.name || '', accelerators: yaml.accelerators || [], gpus: yaml.gpus || []};
  if (yaml.allow_mig !== undefined) fleet.allow_mig = yaml.allow_mig;
  if (yaml.solver) fleet.solver = yaml.solver;
  fleet.workloads = yaml.workloads.map((w, i) => {
    const {buckets, ...workload} = w;
    const out = {workload: h.yamlToProtoObject(workload, 'gpufit.v1.Workload', `workloads[${i}].`)};
    if (buckets) {
      out.bucketed_traffic = {
        requests_per_second: buckets.requests_per_second,
        slice_factor: buckets.slice_factor || 0,
        buckets: buckets.distribution,
      };
    }
    return out;
  });
  return fleet;
}

module.exports = {fleetFromYaml};
