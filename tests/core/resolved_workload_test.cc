#include "core/resolved_workload.h"

#include <limits>

#include "gtest/gtest.h"
#include "test_catalog.h"

namespace gpufit::core {
namespace {

using ::gpufit::testing::ChatWorkload;
using ::gpufit::testing::TestCatalog;

absl::Status Resolve(const Workload& w) { return ResolveWorkload(w, TestCatalog()).status(); }

TEST(ResolveWorkloadTest, AppliesDefaults) {
  Workload w = ChatWorkload(5);
  w.traffic.input_tokens = 0;
  w.traffic.output_tokens = 0;
  const ResolvedWorkload r = ResolveWorkload(w, TestCatalog()).value();
  EXPECT_EQ(r.input_tokens, Policy{}.default_input_tokens);
  EXPECT_EQ(r.output_tokens, Policy{}.default_output_tokens);
  EXPECT_EQ(r.max_context_tokens, r.input_tokens + r.output_tokens);
  EXPECT_EQ(r.kv_precision, Precision::kFp16);
  EXPECT_EQ(r.task, Task::kLlmInference);
}

TEST(ResolveWorkloadTest, ErrorsLeadWithTheFieldPath) {
  Workload w = ChatWorkload(-1);
  EXPECT_EQ(Resolve(w).message(), "workload.traffic.concurrency: must be > 0");
  EXPECT_EQ(Resolve(w).code(), absl::StatusCode::kInvalidArgument);

  w = ChatWorkload(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(Resolve(w).message(), "workload.traffic.concurrency: must be a finite number");

  w = ChatWorkload(10);
  w.model = "llama-9";
  EXPECT_EQ(Resolve(w).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Resolve(w).message().rfind("workload.model: unknown model 'llama-9'", 0), 0u);

  w = ChatWorkload(10);
  w.accelerators = {"l4", "b200"};
  EXPECT_EQ(Resolve(w).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Resolve(w).message().rfind("workload.accelerators[1]: unknown accelerator 'b200'", 0),
            0u);

  w = ChatWorkload(0);
  EXPECT_EQ(Resolve(w).message().rfind("workload.traffic: give concurrency", 0), 0u);

  w = ChatWorkload(10);
  w.traffic.max_context_tokens = 100000;
  EXPECT_EQ(Resolve(w).message(),
            "workload.traffic.max_context_tokens: exceeds the model's context window of 8192 "
            "tokens");

  w = ChatWorkload(10);
  w.architecture = gpufit::testing::Llama3_8B();
  EXPECT_EQ(Resolve(w).message().rfind("workload.model: give either", 0), 0u);

  w = ChatWorkload(10);
  w.slo.tpot_ms = -5;
  EXPECT_EQ(Resolve(w).message(), "workload.slo.tpot_ms: must be > 0");
}

TEST(ResolveWorkloadTest, InlineArchitectureIsChecked) {
  Workload w = ChatWorkload(10);
  w.model.clear();
  w.architecture = gpufit::testing::Llama3_8B();
  EXPECT_TRUE(Resolve(w).ok());
  w.architecture->kv_heads = 64;
  EXPECT_EQ(Resolve(w).message(), "workload.architecture.kv_heads: must be <= attention_heads");
  w.architecture->kv_heads = 8;
  w.architecture->layers = 0;
  EXPECT_EQ(Resolve(w).message(), "workload.architecture.layers: must be > 0");
}

TEST(ResolveWorkloadTest, RatesBecomeAnOutputTokenTarget) {
  Workload w = ChatWorkload(0);
  w.traffic.tokens_per_day = 86400 * 100.0;
  EXPECT_DOUBLE_EQ(ResolveWorkload(w, TestCatalog()).value().output_tokens_per_second, 100);
  w.traffic.requests_per_second = 2;  // x 256 output tokens
  EXPECT_DOUBLE_EQ(ResolveWorkload(w, TestCatalog()).value().output_tokens_per_second, 512);
}

}  // namespace
}  // namespace gpufit::core
