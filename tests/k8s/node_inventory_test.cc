#include "k8s/node_inventory.h"

#include <fstream>
#include <sstream>
#include <string>

#include "config/service_config.h"
#include "gtest/gtest.h"
#include "k8s/pod_workload.h"
#include "server/generated_cluster.h"

namespace gpufit::k8s {
namespace {

NodeInventory Inventory(const std::string& json) {
  absl::StatusOr<NodeFacts> facts = ParseNodeFacts(json);
  EXPECT_TRUE(facts.ok()) << facts.status();
  return facts.ok() ? BuildInventory(*facts) : NodeInventory{};
}

std::string LabelsNode(const std::string& labels, const std::string& allocatable) {
  return R"({"status":{"allocatable":{)" + allocatable + R"(}},"metadata":{"labels":{)" + labels +
         R"(},"name":"n"}})";
}

TEST(ProductTest, MapsGfdProductsToCatalogIds) {
  bool nvlink = false;
  EXPECT_EQ(AcceleratorIdForProduct("NVIDIA-L4", &nvlink), "l4");
  EXPECT_FALSE(nvlink);
  EXPECT_EQ(AcceleratorIdForProduct("NVIDIA-A100-SXM4-80GB", &nvlink), "a100-80gb");
  EXPECT_TRUE(nvlink);
  EXPECT_EQ(AcceleratorIdForProduct("NVIDIA-A100-80GB-PCIe", &nvlink), "a100-80gb");
  EXPECT_FALSE(nvlink);
  EXPECT_EQ(AcceleratorIdForProduct("NVIDIA H100 80GB HBM3", &nvlink), "h100-80gb");
  EXPECT_TRUE(nvlink);
  EXPECT_EQ(AcceleratorIdForProduct("Tesla-T4", nullptr), "t4");
  EXPECT_EQ(AcceleratorIdForProduct("NVIDIA-H100-NVL", nullptr), "");  // not guessed
}

TEST(InventoryTest, WholeGpus) {
  NodeInventory inv = Inventory(LabelsNode(
      R"("nvidia.com/gpu.product":"NVIDIA-L4","nvidia.com/gpu.count":"2","kubernetes.io/os":"linux")",
      R"("cpu":"8","nvidia.com/gpu":"2")"));
  ASSERT_EQ(inv.accelerators.size(), 1u);
  EXPECT_EQ(inv.name, "n");
  EXPECT_EQ(inv.accelerators[0].accelerator_id, "l4");
  EXPECT_EQ(inv.accelerators[0].resource, "nvidia.com/gpu");
  EXPECT_EQ(inv.accelerators[0].count, 2);
  EXPECT_EQ(inv.accelerators[0].allocatable, 2);
}

TEST(InventoryTest, MigMixed) {
  NodeInventory inv = Inventory(LabelsNode(
      R"("nvidia.com/gpu.product":"NVIDIA-A100-SXM4-80GB","nvidia.com/gpu.count":"2",
         "nvidia.com/mig.strategy":"mixed","nvidia.com/mig-1g.10gb.count":"2",
         "nvidia.com/mig-1g.10gb.memory":"9728","nvidia.com/mig-3g.40gb.count":"1")",
      R"("nvidia.com/gpu":"1","nvidia.com/mig-1g.10gb":"2","nvidia.com/mig-3g.40gb":"1")"));
  ASSERT_EQ(inv.accelerators.size(), 3u);
  EXPECT_EQ(inv.accelerators[0].accelerator_id, "a100-80gb");
  EXPECT_EQ(inv.accelerators[0].allocatable, 1);
  EXPECT_EQ(inv.accelerators[1].accelerator_id, "a100-80gb/1g.10gb");
  EXPECT_EQ(inv.accelerators[1].resource, "nvidia.com/mig-1g.10gb");
  EXPECT_EQ(inv.accelerators[1].allocatable, 2);
  EXPECT_EQ(inv.accelerators[2].accelerator_id, "a100-80gb/3g.40gb");
}

TEST(InventoryTest, MigSingleAndShared) {
  NodeInventory single = Inventory(LabelsNode(
      R"("nvidia.com/gpu.product":"NVIDIA-A100-SXM4-80GB-MIG-1g.10gb","nvidia.com/gpu.count":"14","nvidia.com/mig.strategy":"single")",
      R"("nvidia.com/gpu":"14")"));
  ASSERT_EQ(single.accelerators.size(), 1u);
  EXPECT_EQ(single.accelerators[0].accelerator_id, "a100-80gb/1g.10gb");
  EXPECT_FALSE(single.accelerators[0].nvlink);
  NodeInventory shared = Inventory(LabelsNode(
      R"("nvidia.com/gpu.product":"NVIDIA-L4-SHARED","nvidia.com/gpu.count":"1","nvidia.com/gpu.replicas":"4")",
      R"("nvidia.com/gpu":"4")"));
  ASSERT_EQ(shared.accelerators.size(), 1u);
  EXPECT_EQ(shared.accelerators[0].accelerator_id, "l4");
  EXPECT_TRUE(shared.accelerators[0].time_sliced);
}

TEST(InventoryTest, UnknownProductIsReportedNotGuessed) {
  NodeInventory inv =
      Inventory(LabelsNode(R"("nvidia.com/gpu.product":"NVIDIA-B200")", R"("nvidia.com/gpu":"8")"));
  EXPECT_TRUE(inv.accelerators.empty());
  EXPECT_EQ(inv.unknown_product, "NVIDIA-B200");
  NodeInventory cpu = Inventory(LabelsNode(R"("kubernetes.io/os":"linux")", R"("cpu":"8")"));
  EXPECT_FALSE(cpu.has_gpu_labels);
}

TEST(InventoryTest, ToleratesOrderTypesAndExtraFields) {
  NodeInventory inv = Inventory(
      R"({"kind":"Node","status":{"images":[{"names":["x"]}],"allocatable":{"nvidia.com/gpu":8,"nvidia.com/x":{}}},
          "metadata":{"managedFields":[{"a":1}],"labels":{"nvidia.com/gpu.product":"NVIDIA-H100-80GB-HBM3","nvidia.com/gpu.count":["bad"]},"name":"h"}})");
  ASSERT_EQ(inv.accelerators.size(), 1u);
  EXPECT_EQ(inv.accelerators[0].accelerator_id, "h100-80gb");
  EXPECT_EQ(inv.accelerators[0].allocatable, 8);
  EXPECT_FALSE(ParseNodeFacts(R"({"metadata":{}})").ok());
  EXPECT_FALSE(ParseNodeFacts(R"({"metadata":)").ok());
}

TEST(InventoryTest, GeneratedNodesParse) {
  for (int i = 0; i < 8; ++i) {
    NodeInventory inv = Inventory(testing::GeneratedNode(i));
    EXPECT_EQ(inv.name, testing::NodeName(i));
    EXPECT_EQ(inv.has_gpu_labels, testing::KindOf(i) != testing::NodeKind::kCpu);
  }
}

TEST(PodWorkloadTest, FixtureAnnotations) {
  absl::StatusOr<PodInfo> pod = ParsePod(testing::SamplePod());
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_TRUE(pod->is_gpufit_workload());
  EXPECT_EQ(pod->namespace_name, "serving");
  const config::ServiceConfig config = config::DefaultServiceConfig();
  absl::StatusOr<core::Workload> w = WorkloadFromPod(*pod, config);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->model, "qwen2.5-14b");
  EXPECT_EQ(w->traffic.concurrency, 24);
  EXPECT_EQ(w->traffic.max_context_tokens, 8192);
}

TEST(PodWorkloadTest, ModelNames) {
  const config::ServiceConfig config = config::DefaultServiceConfig();
  EXPECT_EQ(PresetForModel("meta-llama/Meta-Llama-3-8B-Instruct", *config.catalog), "llama-3-8b");
  EXPECT_EQ(PresetForModel("mistralai/Mistral-7B-Instruct-v0.2", *config.catalog), "mistral-7b");
  EXPECT_EQ(PresetForModel("llama-3-70b", *config.catalog), "llama-3-70b");
  EXPECT_EQ(PresetForModel("acme/unknown-1b", *config.catalog), "");
}

TEST(PodWorkloadTest, Errors) {
  const config::ServiceConfig config = config::DefaultServiceConfig();
  PodInfo pod;
  pod.annotations = {{"gpufit.io/model", "llama-3-8b"}, {"gpufit.io/target-concurrency", "x"}};
  absl::StatusOr<core::Workload> w = WorkloadFromPod(pod, config);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("gpufit.io/target-concurrency: must be a number > 0"),
            std::string::npos);
  pod.annotations = {{"gpufit.io/modle", "llama-3-8b"}};
  EXPECT_FALSE(WorkloadFromPod(pod, config).ok());
  pod.annotations = {{"gpufit.io/workload", "nope"}};
  EXPECT_EQ(WorkloadFromPod(pod, config).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<PodInfo> plain = ParsePod(R"({"metadata":{"name":"p","annotations":null}})");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->is_gpufit_workload());
  EXPECT_FALSE(ParsePod("[1]").ok());
}

}  // namespace
}  // namespace gpufit::k8s
