#include "server/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace gpufit::server {

void TuneAllocatorForLargeRequests() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes));
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThresholdBytes));
#endif
}

}  // namespace gpufit::server
