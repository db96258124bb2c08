#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "transforms/q80.hpp"

using namespace wfs;

TEST(Q80, TrueDivisionAndHalfEvenAsTheExporter) {
    // export.py divides in fp32 (x / s), never multiplies by 1/s. These groups (max m, value x)
    // round differently under the two, so a quantizer using the reciprocal fails here.
    const float cases[3][2] = {{0x1.9af56cp-4f, 0x1.672f32p-5f}, {0x1.f41a7cp-1f, 0x1.5a8744p-5f},
                               {0x1.47c25ap-1f, 0x1.cdf5b4p-2f}};
    for (auto& c : cases) {
        float x[2] = {c[0], c[1]};  // the max first: s = m / 127
        int8_t q[2];
        float s;
        q80::quantize(x, 1, 2, q, &s);
        ASSERT_EQ(s, c[0] / 127.0f);
        ASSERT_NE(std::nearbyint(c[1] / s), std::nearbyint(c[1] * (1.0f / s)));
        EXPECT_EQ(q[1], static_cast<int8_t>(std::nearbyint(c[1] / s)));
        EXPECT_EQ(q[0], 127);
    }
    // A random corpus against the same definition.
    std::mt19937 rng(8);
    std::uniform_real_distribution<float> d(-3, 3);
    for (int t = 0; t < 20000; ++t) {
        float x[4] = {d(rng), d(rng), d(rng), d(rng)};
        int8_t q[4];
        float s;
        q80::quantize(x, 1, 4, q, &s);
        float m = std::max({std::fabs(x[0]), std::fabs(x[1]), std::fabs(x[2]), std::fabs(x[3])});
        ASSERT_EQ(s, m / 127.0f);
        for (int i = 0; i < 4; ++i) ASSERT_EQ(q[i], static_cast<int8_t>(std::nearbyint(x[i] / s)));
    }
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
