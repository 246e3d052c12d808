// gpufitd's malloc settings, so that the memory a large request took goes back to the system
// once it is answered.
//
// glibc serves a block of at least M_MMAP_THRESHOLD bytes with a mapping of its own, unmapped
// on free; but each time such a block is freed it raises the threshold to that block's size
// (up to 32 MiB on 64-bit), and from then on blocks of many MB come from the heap, where a
// free keeps them resident. One large extender body (tens of MB of body, parser buffers and
// answer) would leave the process at its peak for good. Setting the thresholds fixes them
// (and turns that raising off).
#ifndef GPUFIT_SERVER_ALLOCATOR_H_
#define GPUFIT_SERVER_ALLOCATOR_H_

#include <cstddef>

namespace gpufit::server {

// Blocks from this size up get their own mapping (glibc's initial default is 128 KiB).
inline constexpr size_t kMmapThresholdBytes = 256 * 1024;
// Free memory at the top of a heap beyond this is returned (glibc's default is 128 KiB).
inline constexpr size_t kTrimThresholdBytes = 1024 * 1024;

// Process-wide; idempotent; a no-op without glibc. Call before serving.
void TuneAllocatorForLargeRequests();

}  // namespace gpufit::server

#endif  // GPUFIT_SERVER_ALLOCATOR_H_
