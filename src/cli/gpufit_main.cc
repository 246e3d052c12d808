// gpufit: which GPU or MIG slice an inference workload should run on, how many replicas,
// what it costs, and why the other options lost. See `gpufit --help`.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) { return gpufit::cli::RunCli(argc, argv, std::cout, std::cerr); }
