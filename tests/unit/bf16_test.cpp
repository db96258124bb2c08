// FP8 → BF16: the decode, the rounding, the block geometry and the view's refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "formats/hf.hpp"
#include "formats/safetensors.hpp"
#include "test_util.hpp"
#include "transforms/elements.hpp"
#include "transforms/fp8.hpp"
#include "views/bf16.hpp"
#include "weightfs/catalog.hpp"

using namespace wfs;

namespace {

// E4M3FN from the spec's words, computed in double: sign, 4 exponent bits (bias 7), 3 mantissa bits.
double e4m3_spec(int b) {
    int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7) return NAN;
    double v = e == 0 ? m / 8.0 * std::pow(2.0, -6) : (1 + m / 8.0) * std::pow(2.0, e - 7);
    return s ? -v : v;
}

double e5m2_spec(int b) {
    int s = b >> 7, e = (b >> 2) & 31, m = b & 3;
    double v = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? m / 4.0 * std::pow(2.0, -14) : (1 + m / 4.0) * std::pow(2.0, e - 15);
    return s ? -v : v;
}

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// bf16 by round-to-nearest-even, done on the value in long double (independent of the bit trick).
uint16_t bf16_by_value(float f) {
    if (std::isnan(f)) return 0x7FC0;
    uint32_t u = bits(f);
    uint16_t lo = static_cast<uint16_t>(u >> 16), hi = static_cast<uint16_t>(lo + 1);
    long double a = from_bits(static_cast<uint32_t>(lo) << 16), b = from_bits(static_cast<uint32_t>(hi) << 16);
    if (std::isinf(a)) return lo;
    // IEEE rounding: past the largest finite value the next step is 2^128, which rounds to infinity.
    if (std::isinf(b)) b = std::copysign(std::ldexp(1.0L, 128), b);
    long double da = std::fabs(static_cast<long double>(f) - a), db = std::fabs(b - static_cast<long double>(f));
    if (da < db) return lo;
    if (db < da) return hi;
    return (lo & 1) ? hi : lo;
}

}  // namespace

TEST(Fp8, DecodeTablesMatchTheFormatDefinitions) {
    const float* e4 = fp8::decode_table(st::Dtype::F8_E4M3);
    const float* e5 = fp8::decode_table(st::Dtype::F8_E5M2);
    for (int b = 0; b < 256; ++b) {
        double x = e4m3_spec(b), y = e5m2_spec(b);
        if (std::isnan(x)) EXPECT_TRUE(std::isnan(e4[b])) << b;
        else EXPECT_EQ(static_cast<double>(e4[b]), x) << b;
        if (std::isnan(y)) EXPECT_TRUE(std::isnan(e5[b])) << b;
        else EXPECT_EQ(static_cast<double>(e5[b]), y) << b;
    }
    EXPECT_EQ(e4[0x7E], 448.0f);
    EXPECT_EQ(e4[0x38], 1.0f);
    EXPECT_EQ(e4[0x01], 0.001953125f);
    EXPECT_EQ(e5[0x7B], 57344.0f);
    EXPECT_TRUE(std::signbit(e4[0x80]));
}

TEST(Fp8, Bf16RoundingMatchesRoundToNearestEven) {
    std::mt19937 rng(11);
    std::vector<uint32_t> cases = {0, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7F7FFFFFu, 0x00000001u, 0x807FFFFFu,
                                   0x3F808000u, 0x3F818000u, 0x3F80FFFFu, 0x7FC00001u, 0xFFFFFFFFu, 0x00008000u, 0x00018000u};
    for (int i = 0; i < 2000000; ++i) cases.push_back(rng());
    for (uint32_t u : cases) {
        float f = from_bits(u);
        ASSERT_EQ(fp8::bf16_rne(f), bf16_by_value(f)) << std::hex << u;
    }
    EXPECT_EQ(fp8::bf16_rne(NAN), 0x7FC0);
}

TEST(Fp8, TwoRoundingsAsTheReferenceDoes) {
    // The product is rounded to fp32 first, then to bf16: for some (code, scale) pairs that differs
    // from rounding the exact product once. The piece must give the two-step result.
    const float* e4 = fp8::decode_table(st::Dtype::F8_E4M3);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> dist(1e-6f, 0.01f);
    int differ = 0;
    for (int i = 0; i < 200000 && differ < 5; ++i) {
        float s = dist(rng);
        int code = static_cast<int>(rng() % 254);
        if ((code & 0x7F) == 0x7F) continue;
        float p = e4[code] * s;
        uint16_t two = fp8::bf16_rne(p);
        long double exact = static_cast<long double>(e4[code]) * static_cast<long double>(s);
        uint16_t lo = static_cast<uint16_t>(bits(static_cast<float>(exact)) >> 16);
        // Find the bf16 nearest to the exact product (ties to even).
        long double best = INFINITY;
        uint16_t once = lo;
        for (int d = -2; d <= 2; ++d) {
            uint16_t c = static_cast<uint16_t>(lo + d);
            long double v = from_bits(static_cast<uint32_t>(c) << 16);
            long double err = std::fabs(v - exact);
            if (err < best || (err == best && (c & 1) == 0)) best = err, once = c;
        }
        uint16_t out;
        fp8::dequant_run(reinterpret_cast<const uint8_t*>(&code), 1, e4, s, &out);
        ASSERT_EQ(out, two);
        if (once != two) ++differ;
    }
    EXPECT_GT(differ, 0) << "the corpus should contain double-rounding cases";
}

TEST(Fp8, VectorizedKernelMatchesTheTablePathBitForBit) {
    // Every code, with scales that exercise rounding, overflow to infinity, subnormal results
    // and odd lengths (vector bodies and tails).
    const float* e4 = fp8::decode_table(st::Dtype::F8_E4M3);
    std::vector<uint8_t> codes(256 * 3 + 7);
    for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(i * 37 + i / 256);
    std::mt19937 rng(9);
    std::vector<float> scales = {1.0f, 0.0123f, 3e-39f, 1e30f, -2.5f, 1e-45f, 65504.0f};
    for (int i = 0; i < 200; ++i) scales.push_back(std::ldexp(std::uniform_real_distribution<float>(1, 2)(rng), static_cast<int>(rng() % 60) - 40));
    for (float s : scales)
        for (size_t len : {codes.size(), size_t{1}, size_t{15}, size_t{16}, size_t{33}}) {
            std::vector<uint16_t> a(len), b(len);
            fp8::dequant_run(codes.data(), len, e4, s, a.data());
            fp8::dequant_run_e4m3(codes.data(), len, s, b.data());
            ASSERT_EQ(a, b) << "scale " << s << " len " << len << " isa " << fp8::kernel_isa();
            const fp8::Run run{static_cast<uint32_t>(len), s};
            std::fill(b.begin(), b.end(), 0);
            fp8::dequant_runs_e4m3_generic(codes.data(), &run, 1, b.data());
            ASSERT_EQ(a, b) << "scale " << s << " len " << len << " (compiler-vectorized form)";
        }
    // Many runs in one call, each with its own scale and length, equal to one call per run.
    std::vector<fp8::Run> runs;
    for (size_t at = 0, k = 0; at < codes.size(); ++k) {
        uint32_t n = std::min<uint32_t>(static_cast<uint32_t>(codes.size() - at), 1 + rng() % 140);
        runs.push_back({n, scales[k % scales.size()]});
        at += n;
    }
    std::vector<uint16_t> whole(codes.size()), each(codes.size());
    fp8::dequant_runs_e4m3(codes.data(), runs.data(), runs.size(), whole.data());
    for (size_t r = 0, at = 0; r < runs.size(); at += runs[r].count, ++r)
        fp8::dequant_run(codes.data() + at, runs[r].count, e4, runs[r].scale, each.data() + at);
    EXPECT_EQ(whole, each);
}

TEST(Fp8, AnySubRangeOfADequantizedTensorIsExact) {
    test::TempDir dir;
    const uint64_t rows = 200, cols = 259;  // partial blocks in both directions
    std::vector<uint8_t> w(rows * cols), s(2 * 3 * 4);
    std::mt19937 rng(5);
    for (auto& b : w) b = static_cast<uint8_t>(rng());
    float scales[6] = {0.5f, 0.001f, 3.0f, 1e-5f, 7.25f, 0.0625f};
    std::memcpy(s.data(), scales, sizeof scales);
    test::write_file(dir / "w", w);
    test::write_file(dir / "s", s);
    auto wf = SourceFile::open(dir / "w", "w").value(), sf = SourceFile::open(dir / "s", "s").value();
    fp8::DequantPiece piece(wf, 0, st::Dtype::F8_E4M3, sf, 0, st::Dtype::F32, rows, cols);
    const float* e4 = fp8::decode_table(st::Dtype::F8_E4M3);
    std::vector<uint8_t> whole(rows * cols * 2);
    for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = 0; c < cols; ++c) {
            uint16_t v = fp8::bf16_rne(e4[w[r * cols + c]] * scales[(r / 128) * 3 + c / 128]);
            std::memcpy(&whole[(r * cols + c) * 2], &v, 2);
        }
    std::vector<uint8_t> got(whole.size());
    ASSERT_TRUE(piece.produce(0, got.size(), got.data()).ok());
    EXPECT_TRUE(got == whole);
    for (int i = 0; i < 500; ++i) {
        uint64_t off = rng() % whole.size();
        size_t len = 1 + rng() % (whole.size() - off);
        std::vector<uint8_t> part(len);
        ASSERT_TRUE(piece.produce(off, len, part.data()).ok());
        ASSERT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + static_cast<long>(off))) << off << "+" << len;
    }
}

TEST(Fp8, ScalesWidenExactly) {
    uint8_t bf[2] = {0x80, 0x3F};  // bf16 1.0
    EXPECT_EQ(fp8::scale_to_f32(st::Dtype::BF16, bf), 1.0f);
    uint8_t h[2] = {0x00, 0x3C};   // f16 1.0
    EXPECT_EQ(fp8::scale_to_f32(st::Dtype::F16, h), 1.0f);
    uint8_t hs[2] = {0x01, 0x00};  // smallest f16 subnormal
    EXPECT_EQ(fp8::scale_to_f32(st::Dtype::F16, hs), std::ldexp(1.0f, -24));
}

// ---------------------------------------------------------------- safetensors
namespace {
Result<st::Header> parse_st(const std::string& json, size_t data_bytes, size_t pad_to = 8) {
    std::string h = json;
    h.resize((h.size() + pad_to - 1) / pad_to * pad_to, ' ');
    std::vector<uint8_t> b(8 + h.size() + data_bytes);
    uint64_t n = h.size();
    std::memcpy(b.data(), &n, 8);
    std::memcpy(b.data() + 8, h.data(), h.size());
    static std::vector<uint8_t> keep;
    keep = b;
    MemoryByteReader in(keep.data(), keep.size(), "m.safetensors");
    return st::read_header(in);
}
}  // namespace

TEST(Safetensors, WriterMatchesTheReferenceExample) {
    std::vector<st::OutTensor> t = {{"b.weight", st::Dtype::BF16, {3}, 6, 0}, {"a.bias", st::Dtype::F32, {2}, 8, 0},
                                    {"c.weight", st::Dtype::F8_E4M3, {2, 2}, 4, 0}};
    auto bytes = st::layout(t);
    std::string expect =
        "{\"a.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b.weight\":{\"dtype\":\"BF16\",\"shape\":[3],"
        "\"data_offsets\":[8,14]},\"c.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,2],\"data_offsets\":[14,18]}}   ";
    ASSERT_EQ(bytes.size(), 8 + expect.size());
    EXPECT_EQ(bytes[0], 0xC0);
    EXPECT_EQ(std::string(bytes.begin() + 8, bytes.end()), expect);
    std::vector<st::OutTensor> none;
    auto empty = st::layout(none);
    EXPECT_EQ(std::string(empty.begin() + 8, empty.end()), "{}      ");
    EXPECT_EQ(st::json_string("a\"b\\c\n\x01\x7f\xc3\xa9"), "\"a\\\"b\\\\c\\n\\u0001\x7f\xc3\xa9\"");
}

TEST(Safetensors, ReaderRefusesLiesWithTheOffset) {
    EXPECT_TRUE(parse_st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8).ok());
    {  // fields nobody reads are skipped whatever they hold (the Rust reader ignores them too)
        auto r = parse_st(R"({"__metadata__":{"format":"pt"},"b":{"x":{"y":[1,{"z":null}]},"data_offsets":[8,9],)"
                          R"("shape":[],"dtype":"U8","w":-1.5},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 9);
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_TRUE(r->has_metadata);
        ASSERT_EQ(r->tensors.size(), 2u);
        EXPECT_EQ(r->tensors[0].name, "a");  // data order
        EXPECT_EQ(r->tensors[1].name, "b");
        EXPECT_EQ(r->tensors[1].begin, 8u);
        EXPECT_TRUE(r->tensors[1].shape.empty());
        EXPECT_EQ(r->tensors[0].shape, std::vector<uint64_t>{2});
        EXPECT_EQ(r->tensors[0].dtype, st::Dtype::F32);
    }
    struct Case { std::string json; size_t data; const char* expect; };
    for (auto& c : std::vector<Case>{
             {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 7, "truncated"},
             {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 9, "the file has"},
             {R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8, "unknown dtype"},
             {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "data_offsets span"},
             {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16, "contiguous"},
             {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, "contiguous"},
             {R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", 8, "overflows"},
             {R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", 8, "non-negative"},
             {R"({"a":{"dtype":"F32","shape":[2]}})", 8, "needs dtype"},
             {R"({"a": [})", 8, "not valid JSON"},
             {R"([1,2])", 8, "not a JSON object"},
             {R"({"__metadata__":{"k":1}})", 0, "not a string"},
             {std::string(200, '[') + std::string(200, ']'), 0, "not a JSON object"},
             {"7", 0, "not a JSON object"},
             {R"({"__metadata__":[]})", 0, "__metadata__ is not an object"},
             {R"({"__metadata__":{"k":{"x":"y"}}})", 0, "value for 'k' is not a string"},
             {R"({"a":[{"dtype":"F32","shape":[2],"data_offsets":[0,8]}]})", 8, "tensor 'a': needs dtype"},
             {R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, "field 'dtype' appears twice"},
             {R"({"a":{"dtype":["F32"],"shape":[2],"data_offsets":[0,8]}})", 8, "dtype is not a string"},
             {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, "shape is not an array"},
             {R"({"a":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", 8, "non-negative integer"},
             {R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}})", 8, "at most 16"},
             {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", 8, "data_offsets is not [begin, end]"},
             {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, "data_offsets is not [begin, end]"},
             {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "end before they begin"},
             {R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}})", 1, "whole number of bytes"},
             {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16, "'a': appears twice"},
             {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x)", 8, "not valid JSON"},
         }) {
        auto r = parse_st(c.json, c.data);
        ASSERT_FALSE(r.ok()) << c.json;
        EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << c.json << " -> " << r.error().message;
        EXPECT_EQ(r.error().message.rfind("m.safetensors: offset ", 0), 0u) << r.error().message;
    }
    std::vector<uint8_t> huge(16, 0);
    uint64_t n = 200'000'000;
    std::memcpy(huge.data(), &n, 8);
    MemoryByteReader in(huge.data(), huge.size(), "m.safetensors");
    auto r = st::read_header(in);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("exceeds 100 MB"), std::string::npos);
}

TEST(HfJson, PythonEscapingAndIndexLayout) {
    EXPECT_EQ(hf::python_json_string("a\xc3\xa9\x7f\"\\\t"), "\"a\\u00e9\\u007f\\\"\\\\\\t\"");
    EXPECT_EQ(hf::python_json_string("\xf0\x9f\x98\x80"), "\"\\ud83d\\ude00\"");
    EXPECT_EQ(hf::write_index({{"model.embed_tokens.weight", "model-00001-of-000163.safetensors"}, {"a\xc3\xa9\x7f\"", "x"}}),
              "{\n  \"metadata\": {},\n  \"weight_map\": {\n    \"model.embed_tokens.weight\": \"model-00001-of-000163.safetensors\",\n"
              "    \"a\\u00e9\\u007f\\\"\": \"x\"\n  }\n}");
    EXPECT_EQ(hf::write_index({}), "{\n  \"metadata\": {},\n  \"weight_map\": {}\n}");
}

TEST(HfJson, IndexReaderKeepsFirstPositionsLastValuesAndSharedFileNames) {
    const std::string text = R"({"metadata": {"total_size": 1}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
        "c": "model-00002-of-00002.safetensors", "a": "model-00002-of-00002.safetensors",
        "d": "model-00001-of-00002.safetensors"}})";
    MemoryByteReader in(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "index.json");
    auto idx = hf::read_index(in);
    ASSERT_TRUE(idx.ok()) << idx.error().message;
    ASSERT_EQ(idx->entries.size(), 4u);  // a repeated key keeps its first place, with the last value (Python's dict)
    const char* order[] = {"a", "b", "c", "d"};
    const char* files[] = {"model-00002-of-00002.safetensors", "model-00001-of-00002.safetensors",
                           "model-00002-of-00002.safetensors", "model-00001-of-00002.safetensors"};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(idx->entries[i].tensor, order[i]);
        EXPECT_EQ(idx->file(idx->entries[i]), files[i]) << order[i];
        ASSERT_NE(idx->file_of(order[i]), nullptr);
        EXPECT_EQ(*idx->file_of(order[i]), files[i]);
    }
    EXPECT_EQ(idx->files.size(), 2u);  // each file name stored once
    EXPECT_EQ(idx->file_of("e"), nullptr);
    const std::string bad = R"({"weight_map": {"a": "x.safetensors", "b": 7}})";
    MemoryByteReader in2(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), "index.json");
    auto refused = hf::read_index(in2);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().message, "index.json: weight_map['b'] is not a file name");
}

// ---------------------------------------------------------------- the view's refusals
namespace {

void write_st(const std::string& path, std::vector<st::OutTensor> tensors) {
    auto bytes = st::layout(tensors);
    for (auto& t : tensors) bytes.resize(bytes.size() + t.bytes, 0x38);
    test::write_file(path, bytes);
}

std::string model_error(const test::TempDir& dir) {
    auto c = Catalog::scan(dir.path());
    EXPECT_TRUE(c.ok());
    EXPECT_EQ(c->hf_models.size(), 1u);
    auto m = bf16_model(c->hf_models[0]);
    return m.ok() ? (m->shards.empty() ? "no fp8" : "") : m.error().message;
}

}  // namespace

TEST(Bf16View, RefusesWhatTheScriptCannotConvert) {
    {
        test::TempDir d;
        write_st(d / "model.safetensors", {{"w", st::Dtype::F8_E4M3, {200, 300}, 60000, 0},
                                           {"w_scale_inv", st::Dtype::F32, {2, 3}, 24, 0}});
        EXPECT_EQ(model_error(d), "");
    }
    {
        test::TempDir d;
        write_st(d / "model.safetensors", {{"w", st::Dtype::F8_E4M3, {200, 300}, 60000, 0},
                                           {"w_scale_inv", st::Dtype::F32, {2, 2}, 16, 0}});
        EXPECT_NE(model_error(d).find("scale grid shape does not match"), std::string::npos) << model_error(d);
    }
    {
        test::TempDir d;
        write_st(d / "model.safetensors", {{"w", st::Dtype::F8_E4M3, {4, 200, 300}, 240000, 0},
                                           {"w_scale_inv", st::Dtype::F32, {4, 2, 3}, 96, 0}});
        EXPECT_NE(model_error(d).find("must be 2-D"), std::string::npos) << model_error(d);
    }
    {
        test::TempDir d;
        write_st(d / "model.safetensors", {{"w", st::Dtype::U8, {200, 300}, 60000, 0},
                                           {"w_scale_inv", st::Dtype::F32, {2, 3}, 24, 0}});
        EXPECT_NE(model_error(d).find("is not FP8"), std::string::npos) << model_error(d);
    }
    {
        test::TempDir d;
        write_st(d / "model.safetensors", {{"w", st::Dtype::F8_E4M3, {200, 300}, 60000, 0},
                                           {"w_scale_inv", st::Dtype::I32, {2, 3}, 24, 0}});
        EXPECT_NE(model_error(d).find("scale dtype I32"), std::string::npos) << model_error(d);
    }
    {
        test::TempDir d;  // FP8 without a scale: kept as FP8, so nothing to show
        write_st(d / "model.safetensors", {{"w", st::Dtype::F8_E4M3, {200, 300}, 60000, 0}});
        EXPECT_EQ(model_error(d), "no fp8");
    }
}

// BF16 pieces produce whole elements in batches; byte ranges at odd offsets and lengths, across
// batch edges, must come out exact, and no call may ask for more than one batch.
TEST(Elements, ByteRangesAcrossBatchesAreExact) {
    const uint64_t elements = 3 * kBatchElements + 5;
    auto element = [](uint64_t i) { return static_cast<uint16_t>(i * 2654435761u >> 7); };
    std::vector<uint8_t> expect(elements * 2);
    for (uint64_t i = 0; i < elements; ++i) {
        const uint16_t e = element(i);
        std::memcpy(expect.data() + 2 * i, &e, 2);
    }
    std::mt19937_64 rng(5);
    for (int i = 0; i < 60; ++i) {
        uint64_t off = i == 0 ? 1 : rng() % expect.size();
        size_t len = i == 0 ? expect.size() - 2 : 1 + rng() % (expect.size() - off);
        std::vector<uint8_t> got(len);
        uint64_t largest = 0;
        ASSERT_TRUE(produce_u16(off, len, got.data(), [&](uint64_t first, uint64_t count, uint16_t* dst) -> Status {
                        largest = std::max(largest, count);
                        for (uint64_t k = 0; k < count; ++k) dst[k] = element(first + k);
                        return {};
                    }).ok());
        ASSERT_TRUE(std::equal(got.begin(), got.end(), expect.begin() + static_cast<long>(off))) << off << "+" << len;
        ASSERT_LE(largest, kBatchElements);
    }
}
