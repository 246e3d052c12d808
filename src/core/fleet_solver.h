// Solves a FleetProblem: a fast heuristic (cheapest choice per demand, cheapest resource per
// bucket, then first-fit decreasing of MIG instances onto physical GPUs), then an exact
// mixed-integer program with COIN-OR CBC warm-started from it under a time limit. On timeout
// the best plan found is returned with the proven bound and gap; when CBC finds nothing the
// heuristic plan is the fallback.
//
// The MIP (variables): z[d,c] binary per plain choice; x[d,b,r] integer slices of bucket b on
// resource r; n[d,r] integer replicas; y[t,k] integer GPUs of type t laid out as pattern k;
// bought[t] >= 0. Rows: Σc z = 1; Σr x = slice_factor; Σb x·load - n <= 0; MIG supply per
// (t, profile); whole + Σk y - bought <= owned; whole + Σk y <= max. Objective Σ price·bought.
// Slices and patterns are aggregated counts, not per-instance binaries: no symmetric copies.
//
// Bucketed demands (Mélange) add three steps before that MIP, which is where the issue's
// "within 1% in under a second" comes from:
//  1. Bound: a pooled relaxation (slices continuous; every GPU family whose sizes are whole
//     multiples of one unit, i.e. an A100 with its MIG profiles in compute slices, or types
//     priced at whole multiples of a cheaper one, becomes one integer count) solved by CBC.
//     It removes the near-ties between a k/7 slice and k/7 of a GPU that stall CBC on the
//     exact model, and its optimum is a proven lower bound for the exact problem.
//  2. Primal: the relaxation's slices rounded and slack-filled, and the exact model
//     restricted to the finest member of each pool (1g slices in 7x1g layouts) solved by CBC
//     from the best start: symmetry broken, so it settles the rounding quickly. With nothing
//     to pool, the exact model with the relaxation's replica counts as upper bounds instead.
//     Every start is improved locally: slices moved into other replicas' spare capacity, and
//     replicas shed when the plan's real cost drops (a few 1g slices fewer empty an A100).
//  3. If the best plan is within `relative_gap` of the bound, stop; otherwise (coarse buckets,
//     where continuous slices are a percent or so loose) the pooled relaxation again with whole
//     slices raises the bound, and then the full MIP runs with the bound as a row
//     (Σ price·bought >= bound) and the best plan as its start.
//
// Stopping: the time limit covers the whole solve (heuristic, local search, LP roundings,
// every CBC run); `stop` (fleet_stop.h) ends it earlier at the caller's deadline or when the
// caller cancels. Every stage polls it, and CBC and CLP through event handlers, so the solve
// returns within milliseconds with the best plan found so far (time_limit_reached, and
// cancelled when the caller cancelled); with no plan yet, feasible is false.
//
// Thread-safe. CBC's driver (CbcMain1, options.cbc_driver) keeps process-wide state, so
// driver solves take turns on a process-wide mutex (a waiting solve gives up when its stop
// strikes); without the driver, solves run concurrently (see CbcMutex in fleet_solver.cc).
#ifndef GPUFIT_CORE_FLEET_SOLVER_H_
#define GPUFIT_CORE_FLEET_SOLVER_H_

#include "core/fleet_problem.h"
#include "core/fleet_stop.h"

namespace gpufit::core {

FleetSolution SolveFleetHeuristic(const FleetProblem& problem, const FleetStop& stop = {});
FleetSolution SolveFleet(const FleetProblem& problem, const FleetSolveOptions& options = {},
                         const FleetStop& stop = {});

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_FLEET_SOLVER_H_
