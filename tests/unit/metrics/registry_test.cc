#include "server/metrics/registry.h"

#include <gtest/gtest.h>

namespace backtest::metrics {
namespace {

TEST(RegistryTest, RendersTheTextFormat) {
  Registry registry;
  Family<Counter>& calls = registry.AddCounter("calls_total", "Calls.", {"method", "code"});
  calls.With({"/a.B/C", "OK"}).Inc();
  calls.With({"/a.B/C", "OK"}).Inc(2);
  calls.With({"say \"hi\"\\\n", "NOT_FOUND"}).Inc();
  registry.AddGauge("open", "Open now.").With({}).Set(-1.5);
  Family<Histogram>& took = registry.AddHistogram("took_seconds", "Time.", {0.1, 1}, {"what"});
  took.With({"x"}).Observe(0.05);
  took.With({"x"}).Observe(0.5);
  took.With({"x"}).Observe(7);
  registry.SetGaugeFunction("depth", "Depth.", [] { return 4.0; });
  EXPECT_EQ(registry.Render(),
            "# HELP calls_total Calls.\n"
            "# TYPE calls_total counter\n"
            "calls_total{method=\"/a.B/C\",code=\"OK\"} 3\n"
            "calls_total{method=\"say \\\"hi\\\"\\\\\\n\",code=\"NOT_FOUND\"} 1\n"
            "# HELP open Open now.\n"
            "# TYPE open gauge\n"
            "open -1.5\n"
            "# HELP took_seconds Time.\n"
            "# TYPE took_seconds histogram\n"
            "took_seconds_bucket{what=\"x\",le=\"0.10000000000000001\"} 1\n"
            "took_seconds_bucket{what=\"x\",le=\"1\"} 2\n"
            "took_seconds_bucket{what=\"x\",le=\"+Inf\"} 3\n"
            "took_seconds_sum{what=\"x\"} 7.5499999999999998\n"
            "took_seconds_count{what=\"x\"} 3\n"
            "# HELP depth Depth.\n"
            "# TYPE depth gauge\n"
            "depth 4\n");
}

TEST(RegistryTest, GaugeFunctionReplacedAndRemoved) {
  Registry registry;
  registry.SetGaugeFunction("depth", "Depth.", [] { return 1.0; });
  registry.SetGaugeFunction("depth", "Depth.", [] { return 2.0; });
  EXPECT_EQ(registry.Render(), "# HELP depth Depth.\n# TYPE depth gauge\ndepth 2\n");
  registry.SetGaugeFunction("depth", "", nullptr);
  EXPECT_EQ(registry.Render(), "");
}

}  // namespace
}  // namespace backtest::metrics
