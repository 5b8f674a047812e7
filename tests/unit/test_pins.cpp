// The .pins text form: round trip, descriptions, and errors that name file:line:col.
#include "plan/pins.hpp"
#include "protocol.h"
#include "util/error.hpp"
#include "util/file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <cstring>
#include <fstream>

using namespace racehunt;

TEST(Pins, TextRoundTrip) {
    Pins p;
    p.switch_interval = 2e-6;
    p.shim.push_back({0x1122334455667788ull, 3, 57, "mutex", "delay", 120000, 4242});
    p.yields.push_back({0xabcdefull, 2, 3, "/w/bank.py:14", "Worker-2", 4242});
    std::string text = pins_to_text(p, "made by a test\nsecond line");
    Pins q = parse_pins(text, "t.pins");
    ASSERT_TRUE(q.switch_interval);
    EXPECT_EQ(*q.switch_interval, 2e-6);
    ASSERT_EQ(q.shim.size(), 1u);
    EXPECT_EQ(q.shim[0].key, 0x1122334455667788ull);
    EXPECT_EQ(q.shim[0].thread, 3u);
    EXPECT_EQ(q.shim[0].n, 57u);
    ASSERT_EQ(q.yields.size(), 1u);
    EXPECT_EQ(q.yields[0].key, 0xabcdefull);
    EXPECT_EQ(q.yields[0].visit, 3u);
    EXPECT_EQ(q.size(), 3u);
}

TEST(Pins, DescriptionsReadLikeSentences) {
    EXPECT_EQ(describe(YieldPin{1, 2, 3, "/w/bank.py:14", "Worker-2", 0}),
              "yield in thread \"Worker-2\" at bank.py:14 on its 3rd visit");
    EXPECT_EQ(describe(YieldPin{1, 2, 11, "/w/bank.py:14", "", 0}),
              "yield in thread #2 at bank.py:14 on its 11th visit");
    EXPECT_EQ(describe(ShimPin{1, 3, 0, "mutex", "delay", 120000, 7}),
              "shim delay of 120 us at a mutex call in native thread #3 (its 1st decision), process 7");
}

TEST(Pins, ErrorsNameTheLineAndColumn) {
    auto where = [](const std::string& text) {
        try {
            parse_pins(text, "m.pins");
        } catch (const util::Error& e) {
            return e.where();
        }
        return std::string("no error");
    };
    EXPECT_EQ(where("# fine\nshim 12 x 3\n"), "m.pins:2:9");
    EXPECT_EQ(where("yield zz 1 2"), "m.pins:1:7");
    EXPECT_EQ(where("\n\n  frobnicate 1"), "m.pins:3:3");
    EXPECT_EQ(where("yield 1 1 0"), "m.pins:1:11");
    EXPECT_EQ(where("switch-interval -1"), "m.pins:1:17");
    EXPECT_EQ(where("shim 1 2"), "m.pins:1:1");
    EXPECT_EQ(where("shim 1 2 3 # trailing comment\n\n"), "no error");
}

TEST(Pins, ShimFileIsSortedAndDeduplicated) {
    Pins p;
    p.shim.push_back({2, 0, 5, "", "", 0, 0});
    p.shim.push_back({1, 4, 9, "", "", 0, 0});
    p.shim.push_back({1, 4, 2, "", "", 0, 0});
    p.shim.push_back({2, 0, 5, "", "", 0, 0});
    auto file = std::filesystem::temp_directory_path() / "racehunt-test-pins.bin";
    write_shim_pins(file, p);
    std::string data = util::read_file(file);
    std::filesystem::remove(file);
    ASSERT_EQ(data.size(), sizeof(racehunt_pins_header) + 3 * sizeof(racehunt_pin_record));
    racehunt_pins_header h;
    std::memcpy(&h, data.data(), sizeof h);
    EXPECT_EQ(h.magic, RACEHUNT_PINS_MAGIC);
    EXPECT_EQ(h.count, 3u);
    racehunt_pin_record r[3];
    std::memcpy(r, data.data() + sizeof h, sizeof r);
    EXPECT_EQ(r[0].process_key, 1u);
    EXPECT_EQ(r[0].n, 2u);
    EXPECT_EQ(r[1].n, 9u);
    EXPECT_EQ(r[2].process_key, 2u);
}

TEST(Pins, AsyncioLoopDecisionsRoundTripAndReadAsSentences) {
    Pins p;
    p.loop.push_back({0xabcull, 0, 12, true, {"Task-3", "fetch%20user%2C42", "Task-1"}, 1, 99});
    p.loop.push_back({0xabcull, 1, 7, false, {"uploader"}, 3, 99});
    std::string text = pins_to_text(p, "asyncio");
    EXPECT_NE(text.find("loop 0000000000000abc 0 12 shuffle Task-3,fetch%20user%2C42,Task-1  # asyncio: "
                        "tasks \"Task-3\", \"fetch user,42\", \"Task-1\" resumed in this order in iteration "
                        "12 of loop 0, process 99\n"),
              std::string::npos) << text;
    EXPECT_NE(text.find("loop 0000000000000abc 1 7 defer uploader 3  # asyncio: task \"uploader\" resumed 3 "
                        "iteration(s) late in iteration 7 of loop 1"),
              std::string::npos) << text;
    Pins q = parse_pins(text, "t.pins");
    ASSERT_EQ(q.loop.size(), 2u);
    EXPECT_TRUE(q.loop[0].shuffle);
    EXPECT_EQ(q.loop[0].tasks, p.loop[0].tasks);
    EXPECT_EQ(q.loop[0].iteration, 12u);
    EXPECT_FALSE(q.loop[1].shuffle);
    EXPECT_EQ(q.loop[1].tasks, std::vector<std::string>{"uploader"});
    EXPECT_EQ(q.loop[1].iterations, 3u);
    EXPECT_EQ(q.loop[1].loop, 1u);
    EXPECT_EQ(q.size(), 2u);
    EXPECT_EQ(unescape_task_name("a%2Cb%25c%zz%2"), "a,b%c%zz%2");
}

TEST(Pins, AsyncioLoopLineErrorsNameTheColumn) {
    auto error_of = [](const std::string& text) {
        try {
            parse_pins(text, "m.pins");
        } catch (const util::Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(error_of("loop abc 0 0 defer t 1\n").find("m.pins:1:12: iterations count from 1"), std::string::npos)
        << error_of("loop abc 0 0 defer t 1\n");
    EXPECT_NE(error_of("loop abc 0 3 defer t 9\n").find("m.pins:1:22"), std::string::npos);
    EXPECT_NE(error_of("loop abc 0 3 swap t\n").find("m.pins:1:1"), std::string::npos);
    EXPECT_NE(error_of("loop abc 0 3 shuffle a,,b\n").find("an empty task name"), std::string::npos);
    EXPECT_NE(error_of("loop xyz 0 3 shuffle a,b\n").find("m.pins:1:6"), std::string::npos);
}

TEST(Pins, CommentsStayOnOneLineAndTheEmptyTaskNameRoundTrips) {
    Pins p;
    p.loop.push_back({0x1ull, 0, 4, true, {"%-", "Task-2"}, 1, 0});
    p.yields.push_back({0x2ull, 1, 5, "/w/a.py:3", "evil\nname", 0});
    std::string text = pins_to_text(p, "c");
    Pins q = parse_pins(text, "t.pins"); // a newline in a name must not break the file
    ASSERT_EQ(q.loop.size(), 1u);
    EXPECT_EQ(q.loop[0].tasks, (std::vector<std::string>{"%-", "Task-2"}));
    EXPECT_EQ(unescape_task_name("%-"), "");
    EXPECT_NE(text.find("tasks \"\", \"Task-2\" resumed"), std::string::npos) << text;
    EXPECT_NE(text.find("\"evil name\""), std::string::npos) << text;
}
