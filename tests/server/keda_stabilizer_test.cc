// Scale-down stabilisation (server/scale_stabilizer.h) with a hand-driven clock.
#include "gtest/gtest.h"
#include "server/scale_stabilizer.h"

namespace gpufit::server {
namespace {

class KedaStabilizerTest : public ::testing::Test {
 protected:
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
  ScaleStabilizer stabilizer_{[this] { return now_; }};
  const absl::Duration window_ = absl::Seconds(300);

  int At(absl::Duration since_start, int replicas, const std::string& key = "chat") {
    now_ = absl::FromUnixSeconds(1'700'000'000) + since_start;
    return stabilizer_.Stabilize(key, replicas, window_);
  }
};

TEST_F(KedaStabilizerTest, ScalesUpAtOnce) {
  EXPECT_EQ(At(absl::Seconds(0), 2), 2);
  EXPECT_EQ(At(absl::Seconds(10), 5), 5);
  EXPECT_EQ(At(absl::Seconds(20), 9), 9);
}

TEST_F(KedaStabilizerTest, ScaleDownWaitsForTheWindow) {
  EXPECT_EQ(At(absl::Seconds(0), 6), 6);
  EXPECT_EQ(At(absl::Seconds(60), 2), 6);   // the 6 is 60 s old
  EXPECT_EQ(At(absl::Seconds(299), 3), 6);  // still within 300 s
  EXPECT_EQ(At(absl::Seconds(300), 3), 6);  // exactly at the edge: still counts
  EXPECT_EQ(At(absl::Seconds(301), 1), 3);  // the 6 has aged out; 3 (at 299 s) remains
  EXPECT_EQ(At(absl::Seconds(700), 1), 1);
}

TEST_F(KedaStabilizerTest, ABriefDipDoesNotScaleDown) {
  EXPECT_EQ(At(absl::Seconds(0), 4), 4);
  EXPECT_EQ(At(absl::Seconds(30), 1), 4);
  EXPECT_EQ(At(absl::Seconds(60), 4), 4);
  EXPECT_EQ(At(absl::Seconds(340), 4), 4);
}

TEST_F(KedaStabilizerTest, KeysAreIndependent) {
  EXPECT_EQ(At(absl::Seconds(0), 8, "a"), 8);
  EXPECT_EQ(At(absl::Seconds(1), 1, "b"), 1);
  EXPECT_EQ(At(absl::Seconds(2), 1, "a"), 8);
}

TEST_F(KedaStabilizerTest, ZeroWindowFollowsTheLoad) {
  EXPECT_EQ(stabilizer_.Stabilize("z", 7, absl::ZeroDuration()), 7);
  EXPECT_EQ(stabilizer_.Stabilize("z", 2, absl::ZeroDuration()), 2);
}

TEST_F(KedaStabilizerTest, RetainForgetsRemovedWorkloads) {
  EXPECT_EQ(At(absl::Seconds(0), 8, "gone"), 8);
  stabilizer_.Retain({"chat"});
  EXPECT_EQ(At(absl::Seconds(1), 1, "gone"), 1);
}

}  // namespace
}  // namespace gpufit::server
