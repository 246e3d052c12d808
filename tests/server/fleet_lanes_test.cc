// FleetLanes: PlanFleet admission by size. Small fleets wait their turn (bounded by the
// deadline), large ones are refused at once while their lane is busy, and the two lanes never
// block each other.
#include "server/fleet_lanes.h"

#include <atomic>
#include <chrono>
#include <future>

#include "core/limits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpufit::server {
namespace {

using ::testing::HasSubstr;
using Lane = FleetLanes::Lane;

std::chrono::system_clock::time_point In(std::chrono::milliseconds ms) {
  return std::chrono::system_clock::now() + ms;
}

TEST(FleetLanesTest, LaneBySize) {
  EXPECT_EQ(FleetLanes::LaneFor(1), Lane::kSmall);
  EXPECT_EQ(FleetLanes::LaneFor(core::kMaxSmallFleetCells), Lane::kSmall);
  EXPECT_EQ(FleetLanes::LaneFor(core::kMaxSmallFleetCells + 1), Lane::kLarge);
  EXPECT_EQ(FleetLanes::LaneFor(core::kMaxFleetCells), Lane::kLarge);
}

TEST(FleetLanesTest, LargeFleetsOneAtATimeRefusedAtOnce) {
  FleetLanes lanes;
  absl::StatusOr<FleetLanes::Ticket> first =
      lanes.Enter(Lane::kLarge, 9000, In(std::chrono::seconds(60)));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(lanes.busy(Lane::kLarge));
  EXPECT_FALSE(lanes.busy(Lane::kSmall));
  // Refused without waiting for the minute the deadline allows.
  absl::StatusOr<FleetLanes::Ticket> second =
      lanes.Enter(Lane::kLarge, 8000, In(std::chrono::seconds(60)));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("this one has 8000 cells"));
  // The small lane is free meanwhile.
  absl::StatusOr<FleetLanes::Ticket> small =
      lanes.Enter(Lane::kSmall, 100, In(std::chrono::seconds(60)));
  EXPECT_TRUE(small.ok()) << small.status();
  first->Release();
  EXPECT_FALSE(lanes.busy(Lane::kLarge));
  EXPECT_TRUE(lanes.Enter(Lane::kLarge, 8000, In(std::chrono::seconds(60))).ok());
}

TEST(FleetLanesTest, SmallFleetsWaitTheirTurnUntilTheDeadline) {
  FleetLanes lanes;
  absl::StatusOr<FleetLanes::Ticket> first =
      lanes.Enter(Lane::kSmall, 100, In(std::chrono::seconds(60)));
  ASSERT_TRUE(first.ok());
  // Waits for its deadline, then UNAVAILABLE.
  absl::StatusOr<FleetLanes::Ticket> late =
      lanes.Enter(Lane::kSmall, 100, In(std::chrono::milliseconds(200)));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(late.status().message()), HasSubstr("retry with backoff"));
  // A waiter gets the lane as soon as it frees up.
  auto waiter = std::async(std::launch::async, [&] {
    return lanes.Enter(Lane::kSmall, 100, In(std::chrono::seconds(60))).ok();
  });
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  first->Release();
  EXPECT_TRUE(waiter.get());
}

TEST(FleetLanesTest, CancelledWaiterLeaves) {
  FleetLanes lanes;
  absl::StatusOr<FleetLanes::Ticket> first =
      lanes.Enter(Lane::kSmall, 100, In(std::chrono::seconds(60)));
  ASSERT_TRUE(first.ok());
  std::atomic<bool> cancelled{false};
  auto waiter = std::async(std::launch::async, [&] {
    return lanes
        .Enter(Lane::kSmall, 100, In(std::chrono::seconds(60)), [&] { return cancelled.load(); })
        .status();
  });
  cancelled = true;
  // Bounded wait that fails only if the waiter ignores the cancellation (it polls every 100 ms).
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(waiter.get().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace gpufit::server
