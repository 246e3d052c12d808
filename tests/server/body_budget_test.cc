#include "server/body_budget.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gpufit::server {
namespace {

TEST(BodyBudgetTest, AcquiresWithinTheCapacityAndReleases) {
  std::vector<size_t> seen;
  BodyBudget budget(100, [&](size_t in_use) { seen.push_back(in_use); });
  EXPECT_TRUE(budget.TryAcquire(60));
  EXPECT_FALSE(budget.TryAcquire(41));
  EXPECT_TRUE(budget.TryAcquire(40));
  EXPECT_EQ(budget.in_use_bytes(), 100u);
  budget.Release(60);
  EXPECT_EQ(budget.in_use_bytes(), 40u);
  EXPECT_EQ(budget.peak_bytes(), 100u);
  EXPECT_EQ(seen, (std::vector<size_t>{60, 100, 40}));
}

TEST(BodyBudgetTest, WaitersAreGrantedInArrivalOrderAsBytesFree) {
  BodyBudget budget(100);
  ASSERT_TRUE(budget.TryAcquire(100));
  std::vector<std::string> granted;
  budget.Wait(70, [&] { granted.push_back("big"); });
  budget.Wait(10, [&] { granted.push_back("small"); });
  EXPECT_EQ(budget.waiting(), 2u);
  // While anyone waits, newcomers queue too: small bodies cannot starve the big one.
  EXPECT_FALSE(budget.TryAcquire(1));
  budget.Release(50);  // 50 free: the big one (first) does not fit yet, so nobody goes
  EXPECT_TRUE(granted.empty());
  budget.Release(50);  // 100 free: both
  EXPECT_EQ(granted, (std::vector<std::string>{"big", "small"}));
  EXPECT_EQ(budget.in_use_bytes(), 80u);
  EXPECT_EQ(budget.waiting(), 0u);
}

TEST(BodyBudgetTest, WaitGrantsAtOnceWhenItFits) {
  BodyBudget budget(100);
  bool granted = false;
  budget.Wait(100, [&] { granted = true; });
  EXPECT_TRUE(granted);
  EXPECT_EQ(budget.in_use_bytes(), 100u);
}

TEST(BodyBudgetTest, CancelWithdrawsAWaiterAndLetsTheNextOneGo) {
  BodyBudget budget(100);
  ASSERT_TRUE(budget.TryAcquire(50));
  int big = 0;
  int small = 0;
  const BodyBudget::Ticket t = budget.Wait(80, [&] { ++big; });
  budget.Wait(20, [&] { ++small; });
  EXPECT_EQ(small, 0);  // behind the big one
  EXPECT_TRUE(budget.Cancel(t));
  EXPECT_EQ(big, 0);
  EXPECT_EQ(small, 1);  // the withdrawn one was what held it back
  EXPECT_FALSE(budget.Cancel(t));
  EXPECT_EQ(budget.in_use_bytes(), 70u);
}

TEST(BodyBudgetTest, CancelAfterTheGrantSaysSo) {
  BodyBudget budget(100);
  ASSERT_TRUE(budget.TryAcquire(100));
  int granted = 0;
  const BodyBudget::Ticket t = budget.Wait(10, [&] { ++granted; });
  budget.Release(10);
  EXPECT_EQ(granted, 1);
  EXPECT_FALSE(budget.Cancel(t));  // the caller holds the bytes and must release them
  EXPECT_EQ(budget.in_use_bytes(), 100u);
}

}  // namespace
}  // namespace gpufit::server
