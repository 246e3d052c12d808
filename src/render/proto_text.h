// A gpufit.v1 message as a document people and tools read: JSON (the API's wire form for
// humans, `--output json`) and YAML (`--output yaml`), shared by the CLI and the server.
// Stateless functions; thread-safe.
#ifndef GPUFIT_RENDER_PROTO_TEXT_H_
#define GPUFIT_RENDER_PROTO_TEXT_H_

#include <string>

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace gpufit::render {

// proto3 JSON with the proto field names (= the YAML keys), every scalar printed (zeros
// included, so readers need not know proto3 defaults) and indentation. Ends with a newline.
std::string ToJson(const google::protobuf::Message& message);
// The same document as YAML block style: the JSON above re-emitted by yaml-cpp, with strings
// that would read back as numbers or booleans (e.g. a version "1234") quoted.
std::string ToYaml(const google::protobuf::Message& message);

}  // namespace gpufit::render

#endif  // GPUFIT_RENDER_PROTO_TEXT_H_
