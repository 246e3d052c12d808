// Unit conversions used across the model. GB = 1e9 bytes (datasheets), GiB = 2^30 bytes
// (what nvidia-smi and GPU Feature Discovery report, in MiB).
#ifndef GPUFIT_CORE_UNITS_H_
#define GPUFIT_CORE_UNITS_H_

namespace gpufit::core {

inline constexpr double kBytesPerGiB = 1024.0 * 1024.0 * 1024.0;
inline constexpr double kBytesPerGB = 1e9;
inline constexpr double kSecondsPerHour = 3600.0;
inline constexpr double kHoursPerYear = 24.0 * 365.0;

inline constexpr double GiBFromBytes(double bytes) { return bytes / kBytesPerGiB; }
inline constexpr double BytesFromGiB(double gib) { return gib * kBytesPerGiB; }

}  // namespace gpufit::core

#endif  // GPUFIT_CORE_UNITS_H_
