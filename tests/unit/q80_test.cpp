#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "transforms/q80.hpp"

using namespace wfs;

TEST(Q80, TrueDivisionAndHalfEvenAsTheExporter) {
    // export.py divides in fp32 (x / s), never multiplies by 1/s; find inputs where the two differ
    // and check the quantizer follows the division.
    std::mt19937 rng(8);
    std::uniform_real_distribution<float> d(-3, 3);
    int differ = 0;
    for (int t = 0; t < 20000; ++t) {
        float x[4] = {d(rng), d(rng), d(rng), d(rng)};
        int8_t q[4];
        float s;
        q80::quantize(x, 1, 4, q, &s);
        float m = std::max({std::fabs(x[0]), std::fabs(x[1]), std::fabs(x[2]), std::fabs(x[3])});
        ASSERT_EQ(s, m / 127.0f);
        for (int i = 0; i < 4; ++i) {
            ASSERT_EQ(q[i], static_cast<int8_t>(std::nearbyint(x[i] / s)));
            if (std::nearbyint(x[i] / s) != std::nearbyint(x[i] * (1.0f / s))) ++differ;
        }
    }
    EXPECT_GT(differ, 0) << "the corpus should contain inputs where x*(1/s) rounds differently";
    float half[2] = {0.5f * 127.0f / 127.0f, 127.0f};  // 0.5 → q = 0 (half to even), 127 → 127
    int8_t q[2];
    float s;
    q80::quantize(half, 1, 2, q, &s);
    EXPECT_EQ(q[1], 127);
    float zero[4] = {0, 0, -0.0f, 0};
    int8_t qz[4];
    q80::quantize(zero, 1, 4, qz, &s);
    EXPECT_EQ(s, 0.0f);
    EXPECT_EQ(qz[0], 0);
}

TEST(Q80, UnpermutesRowsPerHead) {
    q80::TensorSource t;
    t.rows = 8;
    t.heads = 2;  // hs = 4: destination rows 0..3 take source rows 0, 2, 1, 3
    EXPECT_EQ(t.source_row(0), 0u);
    EXPECT_EQ(t.source_row(1), 2u);
    EXPECT_EQ(t.source_row(2), 1u);
    EXPECT_EQ(t.source_row(3), 3u);
    EXPECT_EQ(t.source_row(5), 6u);
    t.heads = 0;
    EXPECT_EQ(t.source_row(5), 5u);
}
