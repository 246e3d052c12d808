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
// Thread-safe: CBC's driver keeps static state, so solves are serialised by a mutex.
#ifndef GPUFIT_CORE_FLEET_SOLVER_H_
#define GPUFIT_CORE_FLEET_SOLVER_H_

#include "core/fleet_problem.h"

namespace gpufit::core {

FleetSolution SolveFleetHeuristic(const FleetProblem& problem);
FleetSolution SolveFleet(const FleetProblem& problem, const FleetSolveOptions& options = {});

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_FLEET_SOLVER_H_
