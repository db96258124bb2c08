// Command-line options: weightfs options parsed, fstab noise dropped, kernel options passed on,
// anything else refused with the option's name.
#include <gtest/gtest.h>

#include "fs/options.hpp"

using namespace wfs;

namespace {
Result<Options> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "weightfs");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parse_options(static_cast<int>(argv.size()), argv.data());
}
}  // namespace

TEST(Options, ParsesEveryWeightfsOption) {
    auto o = parse({"/models", "/mnt/w", "-o", "cache=8G,chunk=4M,hugepages=require,hugepage_size=1G",
                    "-oreserve_hugepages=16,numa=local,threads=3,prefetch=5,preload=concat/*.gguf,merge_order=ik",
                    "-o", "direct_io,serve=lazy,verbatim=mapped", "-f"});
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->source, "/models");
    EXPECT_EQ(o->mountpoint, "/mnt/w");
    EXPECT_TRUE(o->foreground);
    EXPECT_TRUE(o->direct_io);
    EXPECT_EQ(o->engine.arena.bytes, 8ull << 30);
    EXPECT_EQ(o->engine.chunk_size, 4ull << 20);
    EXPECT_EQ(o->engine.arena.hugepages, HugepageMode::Require);
    EXPECT_EQ(o->engine.arena.hugepage_size, 1ull << 30);
    EXPECT_EQ(o->engine.arena.reserve_hugepages, 16u);
    EXPECT_EQ(o->engine.arena.numa.kind, NumaPolicy::Local);
    EXPECT_EQ(o->engine.threads, 3u);
    EXPECT_EQ(o->engine.prefetch, 5u);
    EXPECT_EQ(o->engine.preload, "concat/*.gguf");
    EXPECT_EQ(o->engine.views.merge_order, MergeOrder::Ik);
    EXPECT_EQ(o->engine.verbatim, Verbatim::Mapped);
    EXPECT_EQ(parse({"s", "m", "-o", "verbatim=cached"})->engine.verbatim, Verbatim::Cached);
    EXPECT_EQ(parse({"s", "m"})->engine.verbatim, Verbatim::Auto);  // the daemon resolves it against direct_io
}

TEST(Options, DropsFstabOptionsAndPassesKernelOptions) {
    auto o = parse({"s", "m", "-o", "ro,defaults,nofail,_netdev,noauto,user,relatime,x-systemd.automount,"
                    "x-systemd.idle-timeout=10min,X-mount.mkdir,comment=foo,allow_other,noatime,dev,suid,max_read=131072"});
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->mount_opts, (std::vector<std::string>{"allow_other", "noatime", "dev", "suid", "max_read=131072"}));
}

TEST(Options, RefusesWithTheOptionsName) {
    struct Case { std::vector<std::string> args; const char* expect; };
    for (auto& c : std::vector<Case>{
             {{"s", "m", "-o", "bogus"}, "unknown option 'bogus'"},
             {{"s", "m", "-o", "cache=lots"}, "cache=lots"},
             {{"s", "m", "-o", "cache=8Q"}, "unknown size unit"},
             {{"s", "m", "-o", "cache=99999999999999999999G"}, "cache="},
             {{"s", "m", "-o", "chunk=3M"}, "power of two"},
             {{"s", "m", "-o", "hugepages=maybe"}, "hugepages=maybe"},
             {{"s", "m", "-o", "numa=999"}, "no such node"},
             {{"s", "m", "-o", "hugetlb_dir=run/w"}, "must be an absolute path"},
             {{"s", "m", "-o", "serve=fast"}, "expected auto, lazy, passthrough or hugetlb"},
             {{"s", "m", "-o", "verbatim=copy"}, "verbatim=copy: expected auto, mapped or cached"},
             {{"s", "m", "-o", "threads=-1"}, "whole number"},
             {{"s"}, "missing SOURCE or MOUNTPOINT"},
             {{"s", "m", "x"}, "too many arguments"},
             {{"s", "m", "--frobnicate"}, "unknown flag"},
         }) {
        auto o = parse(c.args);
        ASSERT_FALSE(o.ok()) << c.expect;
        EXPECT_NE(o.error().message.find(c.expect), std::string::npos) << o.error().message;
    }
}

TEST(Options, HugetlbWithAnyLibfuse) {
    auto o = parse({"s", "m", "-o", "serve=hugetlb,hugetlb_dir=/run/w"});
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->engine.serve, Serve::Hugetlb);
    EXPECT_EQ(o->engine.hugetlb_dir, "/run/w");
}

TEST(Options, PassthroughOnlyWhereLibfuseHasIt) {
    auto o = parse({"s", "m", "-o", "serve=passthrough"});
#ifdef WEIGHTFS_HAVE_PASSTHROUGH
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->engine.serve, Serve::Passthrough);
#else
    ASSERT_FALSE(o.ok());
    EXPECT_NE(o.error().message.find("older than 3.17.1"), std::string::npos);
#endif
}

TEST(Options, Sizes) {
    EXPECT_EQ(parse_size("512M").value(), 512ull << 20);
    EXPECT_EQ(parse_size("2GiB").value(), 2ull << 30);
    EXPECT_EQ(parse_size("1T").value(), 1ull << 40);
    EXPECT_EQ(parse_size("4096").value(), 4096u);
    EXPECT_FALSE(parse_size("").ok());
    EXPECT_FALSE(parse_size("G").ok());
    EXPECT_FALSE(parse_size("20000000T").ok());
}
