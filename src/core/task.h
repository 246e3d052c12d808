// The kinds of work a workload asks for, how to rank feasible options, and isolation.
#ifndef GPUFIT_CORE_TASK_H_
#define GPUFIT_CORE_TASK_H_

#include <optional>
#include <string_view>

namespace gpufit::core {

enum class Task {
  kLlmInference,
  kEmbedding,
  kSpeechToText,
  kImageGeneration,
  kFineTuneLora,
  kFineTuneQlora,
  kFineTuneFull,
  kPretrain,
};
enum class Objective { kCost, kLatency, kThroughput };
enum class Isolation { kShared, kDedicated };

inline bool IsTraining(Task t) {
  return t == Task::kFineTuneLora || t == Task::kFineTuneQlora || t == Task::kFineTuneFull ||
         t == Task::kPretrain;
}
std::string_view TaskName(Task t);  // "llm-inference"
std::optional<Task> ParseTask(std::string_view name);
std::string_view ObjectiveName(Objective o);
std::optional<Objective> ParseObjective(std::string_view name);
std::string_view IsolationName(Isolation i);
std::optional<Isolation> ParseIsolation(std::string_view name);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_TASK_H_
