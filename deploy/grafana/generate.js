#!/usr/bin/env node
'use strict';
// Writes gpufit's Grafana dashboards (Fleet, with fleet plans and KEDA autoscaling; Scheduler
// extender; Service) as JSON into helm/gpufit/files/dashboards/, the canonical copies: the
// chart's dashboard ConfigMaps embed them and deploy/grafana/*.json link to them. Edit this file, run `node deploy/grafana/generate.js`,
// and commit both; `--check` exits 1 if the JSON files differ from what this writes
// (tests/deploy runs it).
//
// Conventions: a stable uid per dashboard, a $datasource variable that every panel and
// variable uses, $job (default gpufit, the ServiceMonitor's job label) and $instance
// (All = every replica), a unit on every panel, and only metrics from docs/metrics.md.

const fs = require('node:fs');
const path = require('node:path');

const OUT_DIR = path.resolve(__dirname, '..', '..', 'helm', 'gpufit', 'files', 'dashboards');
const DS = {type: 'prometheus', uid: '${datasource}'};
const SEL = 'job="$job", instance=~"$instance"';

function templating(extra = []) {
  return {
    list: [
      {
        name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus',
        current: {}, hide: 0, refresh: 1, regex: '', options: [],
      },
      {
        name: 'job', label: 'Job', type: 'query', datasource: DS,
        query: {query: 'label_values(gpufit_build_info, job)', refId: 'job'},
        definition: 'label_values(gpufit_build_info, job)',
        current: {text: 'gpufit', value: 'gpufit'}, refresh: 2, sort: 1, hide: 0,
        includeAll: false, multi: false, options: [],
      },
      {
        name: 'instance', label: 'Replica', type: 'query', datasource: DS,
        query: {query: 'label_values(gpufit_build_info{job="$job"}, instance)', refId: 'instance'},
        definition: 'label_values(gpufit_build_info{job="$job"}, instance)',
        current: {text: 'All', value: '$__all'}, refresh: 2, sort: 1, hide: 0,
        includeAll: true, allValue: '.*', multi: true, options: [],
      },
      ...extra,
    ],
  };
}

// One panel. kind: timeseries | stat | bargauge | table. targets: [[expr, legend], ...].
function panel(id, kind, title, description, unit, targets, gridPos, opts = {}) {
  const p = {
    id, type: kind, title, description, datasource: DS, gridPos,
    fieldConfig: {
      defaults: {
        unit,
        ...(opts.decimals !== undefined ? {decimals: opts.decimals} : {}),
        ...(opts.min !== undefined ? {min: opts.min} : {}),
        thresholds: opts.thresholds || {mode: 'absolute', steps: [{color: 'green', value: null}]},
        ...(kind === 'timeseries' ? {custom: {
          drawStyle: 'line', lineWidth: 1, fillOpacity: opts.stack ? 30 : 10, showPoints: 'never',
          stacking: {mode: opts.stack ? 'normal' : 'none', group: 'A'},
          thresholdsStyle: {mode: opts.thresholdLines ? 'line+area' : 'off'},
        }} : {}),
      },
      overrides: [],
    },
    options: kind === 'timeseries' ?
      {legend: {displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max']},
        tooltip: {mode: 'multi', sort: 'desc'}} :
      kind === 'stat' ?
      {reduceOptions: {calcs: ['lastNotNull'], fields: '', values: false}, colorMode: 'value',
        graphMode: 'area', textMode: 'auto', justifyMode: 'auto', orientation: 'auto'} :
      kind === 'bargauge' ?
      {reduceOptions: {calcs: ['lastNotNull'], fields: '', values: false}, orientation: 'horizontal',
        displayMode: 'gradient', showUnfilled: true} :
      {showHeader: true},
    targets: targets.map(([expr, legendFormat, extra], i) => ({
      datasource: DS, refId: String.fromCharCode(65 + i), expr, legendFormat,
      range: kind !== 'table', instant: kind === 'table', ...(extra || {}),
    })),
  };
  if (kind === 'table') {
    p.transformations = [
      {id: 'labelsToFields', options: {mode: 'columns'}},
      {id: 'organize', options: {excludeByName: {Time: true}, renameByName: {Value: opts.valueName || 'Value'}}},
    ];
  }
  return p;
}

function row(id, title, y) {
  return {id, type: 'row', title, collapsed: false, gridPos: {h: 1, w: 24, x: 0, y}, panels: []};
}

function dashboard(uid, title, description, panels, extraVariables = []) {
  return {
    uid, title, description,
    tags: ['gpufit'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: {from: 'now-6h', to: 'now'},
    timezone: 'browser',
    annotations: {list: [{
      builtIn: 1, datasource: {type: 'grafana', uid: '-- Grafana --'}, enable: true, hide: true,
      iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard',
    }]},
    links: [{type: 'dashboards', tags: ['gpufit'], asDropdown: true, title: 'gpufit', includeVars: true, keepTime: true}],
    templating: templating(extraVariables),
    panels,
  };
}

const WORKLOAD = {
  name: 'workload', label: 'Workload', type: 'query', datasource: DS,
  query: {query: 'label_values(gpufit_workload_cost_usd_per_hour{job="$job"}, workload)', refId: 'workload'},
  definition: 'label_values(gpufit_workload_cost_usd_per_hour{job="$job"}, workload)',
  current: {text: 'All', value: '$__all'}, refresh: 2, sort: 1, hide: 0,
  includeAll: true, allValue: '.*', multi: true, options: [],
};
const W = `job="$job", instance=~"$instance", workload=~"$workload"`;
// Every replica exports the same per-workload gauges: take one value per workload.
const byWorkload = (metric, extra = '') => `max by (workload${extra}) (${metric}{${W}})`;

const fleet = dashboard('gpufit-fleet', 'gpufit / Fleet',
    'What gpufit recommends for the configured workloads (values config.workloads): accelerator, replicas, ' +
    'predicted $/hour, output tokens/s and tokens/s per $/hour, and why options were rejected; the fleet plans ' +
    'PlanFleet returned; and autoscaling through KEDA\'s external scaler.',
    [
      row(1, 'Fleet', 0),
      panel(2, 'stat', 'Predicted fleet cost', 'Sum over the selected workloads of the recommended configuration\'s $/hour.',
          'currencyUSD', [[`sum(${byWorkload('gpufit_workload_cost_usd_per_hour')})`, '$/hour']],
          {h: 5, w: 6, x: 0, y: 1}, {decimals: 2}),
      panel(3, 'stat', 'Recommended replicas', 'Sum of the recommended replicas over the selected workloads.',
          'none', [[`sum(${byWorkload('gpufit_workload_recommended_replicas', ', accelerator')})`, 'replicas']],
          {h: 5, w: 6, x: 6, y: 1}, {decimals: 0}),
      panel(4, 'stat', 'Fleet output tokens/s per $/hour', 'Output tokens/s the fleet serves per dollar-per-hour it costs.',
          'suffix: tok/s per $/h', [[`sum(${byWorkload('gpufit_workload_output_tokens_per_second')}) / sum(${byWorkload('gpufit_workload_cost_usd_per_hour')})`, 'tok/s per $/h']],
          {h: 5, w: 6, x: 12, y: 1}, {decimals: 1}),
      panel(5, 'stat', 'Workloads', 'Configured workloads gpufit places at every config (re)load.',
          'none', [[`count(${byWorkload('gpufit_workload_cost_usd_per_hour')})`, 'workloads']],
          {h: 5, w: 6, x: 18, y: 1}, {decimals: 0}),
      panel(6, 'table', 'Recommended accelerator by workload', 'The recommended accelerator of each workload and its replicas.',
          'none', [[byWorkload('gpufit_workload_recommended_replicas', ', accelerator'), '{{workload}}: {{accelerator}}']],
          {h: 8, w: 12, x: 0, y: 6}, {valueName: 'Replicas', decimals: 0}),
      panel(7, 'bargauge', 'Replicas by recommended accelerator', 'Recommended replicas summed by accelerator (catalog id or MIG slice).',
          'none', [[`sum by (accelerator) (${byWorkload('gpufit_workload_recommended_replicas', ', accelerator')})`, '{{accelerator}}']],
          {h: 8, w: 12, x: 12, y: 6}, {decimals: 0}),
      row(8, 'Cost and throughput by workload', 14),
      panel(9, 'timeseries', 'Predicted $/hour by workload', 'Predicted cost of each workload\'s recommendation. A step up is what GpufitFleetCostJump alerts on.',
          'currencyUSD', [[byWorkload('gpufit_workload_cost_usd_per_hour'), '{{workload}}']],
          {h: 8, w: 12, x: 0, y: 15}, {stack: true, min: 0}),
      panel(10, 'timeseries', 'Recommended replicas by workload', 'Recommended replicas of each workload (the accelerator is in the legend).',
          'none', [[byWorkload('gpufit_workload_recommended_replicas', ', accelerator'), '{{workload}} on {{accelerator}}']],
          {h: 8, w: 12, x: 12, y: 15}, {min: 0, decimals: 0}),
      panel(11, 'timeseries', 'Output tokens/s by workload', 'Output tokens/s the recommended configuration serves at full load.',
          'suffix: tok/s', [[byWorkload('gpufit_workload_output_tokens_per_second'), '{{workload}}']],
          {h: 8, w: 12, x: 0, y: 23}, {min: 0}),
      panel(12, 'timeseries', 'Output tokens/s per $/hour by workload', 'Throughput per dollar-per-hour: higher is cheaper per token.',
          'suffix: tok/s per $/h', [[`${byWorkload('gpufit_workload_output_tokens_per_second')} / ${byWorkload('gpufit_workload_cost_usd_per_hour')}`, '{{workload}}']],
          {h: 8, w: 12, x: 12, y: 23}, {min: 0}),
      row(13, 'Decisions', 31),
      panel(14, 'timeseries', 'Decisions by recommended accelerator', 'Place answers per second by the accelerator they recommended (none = nothing feasible).',
          'reqps', [[`sum by (accelerator) (rate(gpufit_decisions_total{${SEL}}[$__rate_interval]))`, '{{accelerator}}']],
          {h: 8, w: 12, x: 0, y: 32}, {stack: true, min: 0}),
      panel(15, 'timeseries', 'Infeasible options by reason', 'Options rejected per second: memory (does not fit), slo (misses the latency target), capability (e.g. no NVLink for TP).',
          'cps', [[`sum by (reason) (rate(gpufit_infeasible_options_total{${SEL}}[$__rate_interval]))`, '{{reason}}']],
          {h: 8, w: 12, x: 12, y: 32}, {stack: true, min: 0}),
      // PlanFleet: each replica's gauges hold the last plan *it* returned (clients may plan
      // different fleets), hence per instance, not summed.
      row(16, 'Fleet plans (PlanFleet)', 40),
      panel(17, 'timeseries', 'Last fleet plan cost vs best single-type fleet', 'Cost of the last plan each replica returned, and of the cheapest fleet using one GPU type only for the same workloads (absent when no single type serves them all). The difference is what mixing GPU types and MIG saves.',
          'currencyUSD', [
            [`max by (instance) (gpufit_fleet_plan_cost_usd_per_hour{${SEL}})`, 'plan {{instance}}'],
            [`max by (instance) (gpufit_fleet_plan_single_type_cost_usd_per_hour{${SEL}})`, 'best single type {{instance}}'],
          ],
          {h: 8, w: 12, x: 0, y: 41}, {min: 0, decimals: 2}),
      panel(18, 'stat', 'Fleet plan saving vs one GPU type', 'Share of the best single-type fleet\'s $/hour the last plan saves (latest replica to plan).',
          'percentunit', [[`max(1 - gpufit_fleet_plan_cost_usd_per_hour{${SEL}} / gpufit_fleet_plan_single_type_cost_usd_per_hour{${SEL}})`, 'saving']],
          {h: 8, w: 6, x: 12, y: 41}, {decimals: 1}),
      panel(19, 'bargauge', 'GPUs in the last fleet plan by type', 'GPUs of each type the last plan buys (MIG parents counted as whole GPUs).',
          'none', [[`max by (accelerator) (gpufit_fleet_plan_gpus{${SEL}})`, '{{accelerator}}']],
          {h: 8, w: 6, x: 18, y: 41}, {decimals: 0}),
      panel(20, 'timeseries', 'Fleet plans by outcome', 'PlanFleet calls per second by outcome: optimal, feasible (time limit hit with a gap left), infeasible (no fleet serves), invalid (bad request), error (solver busy, deadline, internal).',
          'reqps', [[`sum by (result) (rate(gpufit_fleet_plans_total{${SEL}}[$__rate_interval]))`, '{{result}}']],
          {h: 8, w: 8, x: 0, y: 49}, {stack: true, min: 0}),
      panel(21, 'timeseries', 'Fleet plan optimality gap', 'Proven gap of the last plan: (cost - lower bound) / cost. 0 = proven cheapest; above the requested gap means the solver ran out of time.',
          'percentunit', [[`max by (instance) (gpufit_fleet_plan_gap_ratio{${SEL}})`, '{{instance}}']],
          {h: 8, w: 8, x: 8, y: 49}, {min: 0, decimals: 2}),
      panel(22, 'timeseries', 'Fleet solve time', 'p50 / p99 of the solver\'s time per plan; a call is capped at 10 s of solving (then the single-type comparisons).',
          's', [
            [`histogram_quantile(0.5, sum by (le) (rate(gpufit_fleet_plan_solve_seconds_bucket{${SEL}}[$__rate_interval])))`, 'p50'],
            [`histogram_quantile(0.99, sum by (le) (rate(gpufit_fleet_plan_solve_seconds_bucket{${SEL}}[$__rate_interval])))`, 'p99'],
          ],
          {h: 8, w: 8, x: 16, y: 49}, {min: 0}),
      // KEDA's external scaler (triggers of type external on gpufitd) and Recommend.
      row(23, 'Autoscaling (KEDA)', 57),
      panel(24, 'timeseries', 'Scaler calls by method and code', 'External-scaler calls from KEDA (IsActive, StreamIsActive, GetMetricSpec, GetMetrics) and AutoscalingService.Recommend per second, by gRPC code. A stream counts once, when it ends.',
          'reqps', [[`sum by (method, code) (rate(gpufit_keda_requests_total{${SEL}}[$__rate_interval]))`, '{{method}} {{code}}']],
          {h: 8, w: 12, x: 0, y: 58}, {stack: true, min: 0}),
      panel(25, 'timeseries', 'Live load vs per-replica target by trigger', 'For triggers on a configured workload: the load the scaler last read (requests in flight) and the per-replica target GetMetricSpec returned. The HPA runs ceil(load / target) replicas.',
          'none', [
            [`max by (workload, accelerator) (gpufit_keda_trigger_load{${W}})`, 'load {{workload}} on {{accelerator}}'],
            [`max by (workload, accelerator) (gpufit_keda_trigger_target_per_replica{${W}})`, 'target per replica {{workload}} on {{accelerator}}'],
          ],
          {h: 8, w: 12, x: 12, y: 58}, {min: 0}),
      panel(26, 'timeseries', 'Replicas the live load needs by trigger', 'ceil(load / per-replica target): the replicas KEDA\'s HPA aims for on each trigger.',
          'none', [[`ceil(max by (workload, accelerator) (gpufit_keda_trigger_load{${W}}) / max by (workload, accelerator) (gpufit_keda_trigger_target_per_replica{${W}}))`, '{{workload}} on {{accelerator}}']],
          {h: 8, w: 8, x: 0, y: 66}, {min: 0, decimals: 0}),
      panel(27, 'timeseries', 'Trigger active (scaled from zero)', 'IsActive / StreamIsActive\'s last answer per trigger: 1 = load above activationThreshold, so KEDA keeps at least one replica.',
          'bool_on_off', [[`max by (workload, accelerator) (gpufit_keda_trigger_active{${W}})`, '{{workload}} on {{accelerator}}']],
          {h: 8, w: 8, x: 8, y: 66}, {min: 0, decimals: 0}),
      panel(28, 'timeseries', 'Recommend: desired vs recommended replicas', 'Desired replicas from the last Recommend call (live load, after the scale-down window) against the replicas placed for the configured traffic.',
          'none', [
            [byWorkload('gpufit_workload_desired_replicas'), 'desired {{workload}}'],
            [`sum by (workload) (${byWorkload('gpufit_workload_recommended_replicas', ', accelerator')})`, 'placed {{workload}}'],
          ],
          {h: 8, w: 8, x: 16, y: 66}, {min: 0, decimals: 0}),
      panel(29, 'timeseries', 'Prometheus query errors by reason', 'Failed live-load queries per second: unreachable, http_status, bad_query, bad_response, bad_result. GpufitKedaQueryFailing fires above 10% of queries.',
          'cps', [[`sum by (reason) (rate(gpufit_keda_query_errors_total{${SEL}}[$__rate_interval]))`, '{{reason}}']],
          {h: 8, w: 8, x: 0, y: 74}, {stack: true, min: 0}),
      panel(30, 'stat', 'Prometheus query error ratio', 'Share of live-load queries to Prometheus that failed. Without an answer KEDA cannot scale the workload.',
          'percentunit', [[`sum(rate(gpufit_keda_query_errors_total{${SEL}}[$__rate_interval])) / clamp_min(sum(rate(gpufit_keda_query_duration_seconds_count{${SEL}}[$__rate_interval])), 1e-9)`, 'errors']],
          {h: 8, w: 8, x: 8, y: 74}, {decimals: 1,
            thresholds: {mode: 'absolute', steps: [{color: 'green', value: null}, {color: 'orange', value: 0.01}, {color: 'red', value: 0.1}]}}),
      panel(31, 'timeseries', 'Prometheus query latency', 'p50 / p99 of live-load queries (the scaler\'s and Recommend\'s); gpufitd gives up after 5 s and KEDA\'s call deadline is shorter.',
          's', [
            [`histogram_quantile(0.5, sum by (le) (rate(gpufit_keda_query_duration_seconds_bucket{${SEL}}[$__rate_interval])))`, 'p50'],
            [`histogram_quantile(0.99, sum by (le) (rate(gpufit_keda_query_duration_seconds_bucket{${SEL}}[$__rate_interval])))`, 'p99'],
          ],
          {h: 8, w: 8, x: 16, y: 74}, {min: 0}),
    ], [WORKLOAD]);

const EXT = `job="$job", instance=~"$instance"`;
const extender = dashboard('gpufit-extender', 'gpufit / Scheduler extender',
    'kube-scheduler\'s calls to gpufitd\'s extender (POST /filter, /prioritize): rate and outcome, latency against ' +
    'the scheduler\'s 5 s extender timeout, nodes filtered out by reason, and the node cache.',
    [
      row(1, 'Calls', 0),
      panel(2, 'timeseries', 'Extender calls by verb and outcome', 'ok; pass_through (pod not managed by gpufit); pod_error (the pod\'s gpufit annotations are invalid); bad_request.',
          'reqps', [[`sum by (verb, outcome) (rate(gpufit_extender_requests_total{${EXT}}[$__rate_interval]))`, '{{verb}} {{outcome}}']],
          {h: 8, w: 12, x: 0, y: 1}, {stack: true, min: 0}),
      panel(3, 'stat', 'Calls not ok', 'Share of extender calls answered with pod_error or bad_request over the dashboard interval.',
          'percentunit', [[`sum(rate(gpufit_extender_requests_total{${EXT}, outcome=~"pod_error|bad_request"}[$__rate_interval])) / clamp_min(sum(rate(gpufit_extender_requests_total{${EXT}}[$__rate_interval])), 1e-9)`, 'not ok']],
          {h: 8, w: 12, x: 12, y: 1}, {decimals: 1,
            thresholds: {mode: 'absolute', steps: [{color: 'green', value: null}, {color: 'orange', value: 0.01}, {color: 'red', value: 0.05}]}}),
      row(4, 'Latency', 9),
      panel(5, 'timeseries', 'Extender latency against the 5 s timeout', 'p50 / p99 per verb. kube-scheduler gives up after httpTimeout (5 s by default); the orange band starts where GpufitExtenderLatencyNearTimeout fires (2.5 s).',
          's', [
            [`histogram_quantile(0.5, sum by (verb, le) (rate(gpufit_extender_request_duration_seconds_bucket{${EXT}}[$__rate_interval])))`, 'p50 {{verb}}'],
            [`histogram_quantile(0.99, sum by (verb, le) (rate(gpufit_extender_request_duration_seconds_bucket{${EXT}}[$__rate_interval])))`, 'p99 {{verb}}'],
          ],
          {h: 8, w: 24, x: 0, y: 10}, {min: 0, thresholdLines: true,
            thresholds: {mode: 'absolute', steps: [{color: 'transparent', value: null}, {color: 'orange', value: 2.5}, {color: 'red', value: 5}]}}),
      row(6, 'Filtering and node cache', 18),
      panel(7, 'timeseries', 'Nodes filtered out by reason', 'memory, slo, capability, no_gpu, unknown_product: the node can never serve the pod; no_capacity, not_in_cache: it may later.',
          'suffix: nodes/s', [[`sum by (reason) (rate(gpufit_extender_filtered_nodes_total{${EXT}}[$__rate_interval]))`, '{{reason}}']],
          {h: 8, w: 12, x: 0, y: 19}, {stack: true, min: 0}),
      panel(8, 'timeseries', 'Nodes in the node cache', 'Nodes each replica\'s cache holds (list + watch of the API). Replicas should agree.',
          'none', [[`max by (instance) (gpufit_node_cache_nodes{${EXT}})`, '{{instance}}']],
          {h: 8, w: 6, x: 12, y: 19}, {min: 0, decimals: 0}),
      panel(9, 'timeseries', 'Node watch restarts', 'Times per hour the node watch ended and was reopened; a steady climb points at API server trouble.',
          'none', [[`sum by (instance) (increase(gpufit_node_cache_watch_restarts_total{${EXT}}[1h]))`, '{{instance}}']],
          {h: 8, w: 6, x: 18, y: 19}, {min: 0}),
    ]);

const service = dashboard('gpufit-service', 'gpufit / Service',
    'gpufitd as a service: gRPC request rate, errors and latency percentiles, config reloads, and the process.',
    [
      row(1, 'Overview', 0),
      panel(2, 'stat', 'Replicas up', 'Targets of the job that answered their last scrape.',
          'none', [[`sum(up{${SEL}})`, 'up']], {h: 5, w: 6, x: 0, y: 1}, {decimals: 0,
            thresholds: {mode: 'absolute', steps: [{color: 'red', value: null}, {color: 'orange', value: 1}, {color: 'green', value: 2}]}}),
      panel(3, 'stat', 'Requests', 'gRPC calls per second, all methods.',
          'reqps', [[`sum(rate(gpufit_grpc_requests_total{${SEL}}[$__rate_interval]))`, 'calls/s']], {h: 5, w: 6, x: 6, y: 1}),
      panel(4, 'stat', 'Server error ratio', 'Share of gRPC calls failing with a server-side code (not INVALID_ARGUMENT, NOT_FOUND or CANCELLED); GpufitHighErrorRatio fires above 5%.',
          'percentunit', [[`sum(rate(gpufit_grpc_requests_total{${SEL}, code!~"OK|INVALID_ARGUMENT|NOT_FOUND|CANCELLED"}[$__rate_interval])) / clamp_min(sum(rate(gpufit_grpc_requests_total{${SEL}}[$__rate_interval])), 1e-9)`, 'errors']],
          {h: 5, w: 6, x: 12, y: 1}, {decimals: 2,
            thresholds: {mode: 'absolute', steps: [{color: 'green', value: null}, {color: 'orange', value: 0.01}, {color: 'red', value: 0.05}]}}),
      panel(5, 'table', 'Versions', 'gpufitd build and config (catalog) version of each replica.',
          'none', [[`max by (instance, version) (gpufit_build_info{${SEL}})`, 'build {{version}}'],
            [`max by (instance, version) (gpufit_config_info{${SEL}})`, 'config {{version}}']],
          {h: 5, w: 6, x: 18, y: 1}, {valueName: 'Present'}),
      row(6, 'gRPC', 6),
      panel(7, 'timeseries', 'Request rate by method', 'gRPC calls per second by method.',
          'reqps', [[`sum by (method) (rate(gpufit_grpc_requests_total{${SEL}}[$__rate_interval]))`, '{{method}}']],
          {h: 8, w: 12, x: 0, y: 7}, {stack: true, min: 0}),
      panel(8, 'timeseries', 'Errors by method and code', 'Calls per second answered with a code other than OK. INVALID_ARGUMENT and NOT_FOUND are the client\'s; the rest are gpufitd\'s.',
          'reqps', [[`sum by (method, code) (rate(gpufit_grpc_requests_total{${SEL}, code!="OK"}[$__rate_interval]))`, '{{method}} {{code}}']],
          {h: 8, w: 12, x: 12, y: 7}, {stack: true, min: 0}),
      panel(9, 'timeseries', 'Latency percentiles by method', 'p50, p90 and p99 of gRPC call durations (server side).',
          's', [
            [`histogram_quantile(0.5, sum by (method, le) (rate(gpufit_grpc_request_duration_seconds_bucket{${SEL}}[$__rate_interval])))`, 'p50 {{method}}'],
            [`histogram_quantile(0.9, sum by (method, le) (rate(gpufit_grpc_request_duration_seconds_bucket{${SEL}}[$__rate_interval])))`, 'p90 {{method}}'],
            [`histogram_quantile(0.99, sum by (method, le) (rate(gpufit_grpc_request_duration_seconds_bucket{${SEL}}[$__rate_interval])))`, 'p99 {{method}}'],
          ],
          {h: 8, w: 12, x: 0, y: 15}, {min: 0}),
      panel(10, 'timeseries', 'Mean latency by method', 'Mean gRPC call duration (sum / count).',
          's', [[`sum by (method) (rate(gpufit_grpc_request_duration_seconds_sum{${SEL}}[$__rate_interval])) / sum by (method) (rate(gpufit_grpc_request_duration_seconds_count{${SEL}}[$__rate_interval]))`, '{{method}}']],
          {h: 8, w: 12, x: 12, y: 15}, {min: 0}),
      row(11, 'Config reloads', 23),
      panel(12, 'timeseries', 'Config reloads by result', 'Reloads of the --config file in the last hour; a failure keeps the previous config serving (GpufitConfigReloadFailing).',
          'none', [[`sum by (result) (increase(gpufit_config_reloads_total{${SEL}}[1h]))`, '{{result}}']],
          {h: 8, w: 12, x: 0, y: 24}, {min: 0}),
      panel(13, 'timeseries', 'Time since the last successful config load', 'Per replica. Grows without bound when nothing changes; compare replicas after a ConfigMap update.',
          's', [[`time() - max by (instance) (gpufit_config_last_reload_success_timestamp_seconds{${SEL}})`, '{{instance}}']],
          {h: 8, w: 12, x: 12, y: 24}, {min: 0}),
      row(14, 'Process', 32),
      panel(15, 'timeseries', 'CPU', 'CPU used per replica, in cores (1 = 100%).',
          'percentunit', [[`rate(process_cpu_seconds_total{${SEL}}[$__rate_interval])`, '{{instance}}']],
          {h: 8, w: 6, x: 0, y: 33}, {min: 0}),
      panel(16, 'timeseries', 'Resident memory', 'Resident set size per replica.',
          'bytes', [[`process_resident_memory_bytes{${SEL}}`, '{{instance}}']],
          {h: 8, w: 6, x: 6, y: 33}, {min: 0}),
      panel(17, 'timeseries', 'Open file descriptors', 'Open descriptors as a share of the limit.',
          'percentunit', [[`process_open_fds{${SEL}} / process_max_fds{${SEL}}`, '{{instance}}']],
          {h: 8, w: 6, x: 12, y: 33}, {min: 0}),
      panel(18, 'timeseries', 'Uptime', 'Time since each replica started; a drop is a restart.',
          's', [[`time() - process_start_time_seconds{${SEL}}`, '{{instance}}']],
          {h: 8, w: 6, x: 18, y: 33}, {min: 0}),
    ]);

const DASHBOARDS = {'gpufit-fleet.json': fleet, 'gpufit-extender.json': extender, 'gpufit-service.json': service};

function main() {
  const check = process.argv.includes('--check');
  let stale = [];
  for (const [file, dash] of Object.entries(DASHBOARDS)) {
    const text = JSON.stringify(dash, null, 2) + '\n';
    const target = path.join(OUT_DIR, file);
    if (check) {
      const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : null;
      if (current !== text) stale.push(target);
    } else {
      fs.mkdirSync(OUT_DIR, {recursive: true});
      fs.writeFileSync(target, text);
    }
  }
  if (stale.length) {
    console.error(`stale dashboards (run node deploy/grafana/generate.js): ${stale.join(', ')}`);
    process.exit(1);
  }
}

if (require.main === module) main();
module.exports = {DASHBOARDS};
