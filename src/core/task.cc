#include "core/task.h"

#include <array>
#include <utility>

namespace gpufit::core {
namespace {

constexpr std::array<std::pair<Task, std::string_view>, 8> kTasks = {{
    {Task::kLlmInference, "llm-inference"},
    {Task::kEmbedding, "embedding"},
    {Task::kSpeechToText, "speech-to-text"},
    {Task::kImageGeneration, "image-generation"},
    {Task::kFineTuneLora, "fine-tune-lora"},
    {Task::kFineTuneQlora, "fine-tune-qlora"},
    {Task::kFineTuneFull, "fine-tune-full"},
    {Task::kPretrain, "pretrain"},
}};
constexpr std::array<std::pair<Objective, std::string_view>, 3> kObjectives = {
    {{Objective::kCost, "cost"},
     {Objective::kLatency, "latency"},
     {Objective::kThroughput, "throughput"}}};
constexpr std::array<std::pair<Isolation, std::string_view>, 2> kIsolations = {
    {{Isolation::kShared, "shared"}, {Isolation::kDedicated, "dedicated"}}};

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [value, name] : table) {
    if (value == e) return name;
  }
  return "?";
}
template <typename E, size_t N>
std::optional<E> Parse(const std::array<std::pair<E, std::string_view>, N>& table,
                       std::string_view s) {
  for (const auto& [value, name] : table) {
    if (name == s) return value;
  }
  return std::nullopt;
}

}  // namespace

std::string_view TaskName(Task t) { return NameOf(kTasks, t); }
std::optional<Task> ParseTask(std::string_view s) { return Parse(kTasks, s); }
std::string_view ObjectiveName(Objective o) { return NameOf(kObjectives, o); }
std::optional<Objective> ParseObjective(std::string_view s) { return Parse(kObjectives, s); }
std::string_view IsolationName(Isolation i) { return NameOf(kIsolations, i); }
std::optional<Isolation> ParseIsolation(std::string_view s) { return Parse(kIsolations, s); }

}  // namespace gpufit::core
