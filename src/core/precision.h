// Numeric precision of model weights (and, separately, of the KV cache).
#ifndef GPUFIT_CORE_PRECISION_H_
#define GPUFIT_CORE_PRECISION_H_

#include <optional>
#include <string_view>

namespace gpufit::core {

enum class Precision { kFp32, kBf16, kFp16, kFp8, kInt8, kInt4 };

// Bytes per weight parameter as stored on the GPU, including quantisation scales.
// Source: tests/testdata/data/reference-gpu-model-data.yaml `bytes_per_param` (definitions;
// int4 = GPTQ/AWQ group-128 packing: 4 bits + (16-bit scale + 4-bit zero)/128 = 4.16 bits).
inline double BytesPerParameter(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return 4.0;
    case Precision::kBf16:
    case Precision::kFp16:
      return 2.0;
    case Precision::kFp8:
    case Precision::kInt8:
      return 1.0;
    case Precision::kInt4:
      return 0.52;  // GPTQ/AWQ g128, reference data int4_gptq_awq_g128
  }
  return 2.0;
}

// True for fp8/int8/int4: such checkpoints keep the token embedding and lm_head in 16-bit
// (reference data: "embeddings and lm_head usually stay FP16"), which matters for
// large-vocabulary models (Llama 3: 2 x 128256 x 4096 x 2 B = 2.1 GB).
inline bool IsQuantized(Precision p) {
  return p == Precision::kFp8 || p == Precision::kInt8 || p == Precision::kInt4;
}

std::string_view PrecisionName(Precision p);  // "fp8"
std::optional<Precision> ParsePrecision(std::string_view name);

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_PRECISION_H_
