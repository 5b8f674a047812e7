#include "run/output_capture.hpp"
#include "util/duration.hpp"
#include "util/strings.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace std::chrono;

TEST(Duration, ParsesUnits) {
    EXPECT_EQ(*util::parse_duration("10s"), seconds(10));
    EXPECT_EQ(*util::parse_duration("200us"), microseconds(200));
    EXPECT_EQ(*util::parse_duration("1.5ms"), microseconds(1500));
    EXPECT_EQ(*util::parse_duration("2m"), minutes(2));
    EXPECT_EQ(*util::parse_duration("3"), seconds(3));
    EXPECT_FALSE(util::parse_duration("ten seconds"));
    EXPECT_FALSE(util::parse_duration("-1s"));
    EXPECT_FALSE(util::parse_duration(""));
}

TEST(Duration, FormatsRoundTrip) {
    for (auto d : {nanoseconds(seconds(10)), nanoseconds(microseconds(200)),
                   nanoseconds(microseconds(1500)), nanoseconds(minutes(2))})
        EXPECT_EQ(*util::parse_duration(util::format_duration(d)), d);
}

TEST(Strings, ClosestMatchFindsTyposOnly) {
    std::vector<std::string> keys = {"timeout", "script", "python"};
    EXPECT_EQ(*util::closest_match("timout", keys), "timeout");
    EXPECT_EQ(*util::closest_match("pyhton", keys), "python");
    EXPECT_FALSE(util::closest_match("banana", keys));
}

TEST(Strings, HexRoundTrip) {
    EXPECT_EQ(util::hex64(0xabc), "0000000000000abc");
    EXPECT_EQ(*util::parse_hex64("0000000000000abc"), 0xabcu);
    EXPECT_EQ(*util::parse_hex64("0xFF"), 255u);
    EXPECT_FALSE(util::parse_hex64("xyz"));
    EXPECT_FALSE(util::parse_hex64("12345678901234567"));
}

TEST(Strings, ShellQuoteOnlyWhenNeeded) {
    EXPECT_EQ(util::shell_quote("scenarios/a.toml"), "scenarios/a.toml");
    EXPECT_EQ(util::shell_quote("a b"), "'a b'");
    EXPECT_EQ(util::shell_quote("it's"), "'it'\\''s'");
}

TEST(Strings, SanitizedFileNamesAreSafe) {
    EXPECT_EQ(util::sanitize_file_name("../../etc/passwd"), ".._.._etc_passwd");
    EXPECT_EQ(util::sanitize_file_name(".."), "_..");
    EXPECT_EQ(util::sanitize_file_name("bank lost<update>"), "bank_lost_update_");
}

TEST(OutputCapture, KeepsHeadAndTailOfALargeStreamWithBoundedMemory) {
    auto path = std::filesystem::temp_directory_path() / "racehunt-capture-test.txt";
    {
        racehunt::OutputCapture c(path, 100, 50);
        std::string chunk(1000, 'x');
        c.append("HEAD", 4);
        for (int i = 0; i < 10000; ++i) // 10 MB through a 150-byte budget
            c.append(chunk.data(), chunk.size());
        c.append("TAIL", 4);
        c.finish();
        EXPECT_EQ(c.bytes(), 10'000'008u);
        EXPECT_EQ(c.omitted(), 10'000'008u - 150u);
    }
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    EXPECT_EQ(s.substr(0, 4), "HEAD");
    EXPECT_EQ(s.substr(s.size() - 4), "TAIL");
    EXPECT_NE(s.find("bytes omitted"), std::string::npos);
    EXPECT_LT(s.size(), 300u);
}

TEST(OutputCapture, SmallStreamIsKeptWhole) {
    auto path = std::filesystem::temp_directory_path() / "racehunt-capture-small.txt";
    {
        racehunt::OutputCapture c(path, 100, 50);
        c.append("hello\n", 6);
    }
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str(), "hello\n");
}
