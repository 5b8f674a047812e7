#include "campaign/filing.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
    fs::path d = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

fs::path make_run_dir(const fs::path& root, int i) {
    fs::path run = root / "runs" / std::to_string(i);
    fs::create_directories(run);
    std::ofstream(run / "py-1.jsonl") << i << "\n";
    return run;
}

} // namespace

TEST(Filing, TheSameSeedFiledTwiceGetsASecondName) {
    const fs::path out = fresh_dir("rh-filing-seq");
    EXPECT_EQ(racehunt::file_failure(out, 0xab, make_run_dir(out, 1)), out / "failures" / "00000000000000ab");
    EXPECT_EQ(racehunt::file_failure(out, 0xab, make_run_dir(out, 2)), out / "failures" / "00000000000000ab-2");
    std::ifstream in(out / "failures" / "00000000000000ab-2" / "py-1.jsonl");
    int i = 0;
    in >> i;
    EXPECT_EQ(i, 2);
    fs::remove_all(out);
}

// replay --repeat N -j2 fails one seed in two workers at once: every run keeps its own
// directory under failures/, none stays behind in runs/.
TEST(Filing, WorkersFilingOneSeedAtOnceNeverShareADirectory) {
    const fs::path out = fresh_dir("rh-filing-par");
    constexpr int kThreads = 8, kEach = 25;
    std::vector<fs::path> runs;
    for (int i = 0; i < kThreads * kEach; ++i)
        runs.push_back(make_run_dir(out, i));
    std::vector<std::vector<fs::path>> got(kThreads);
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t)
        workers.emplace_back([&, t] {
            for (int k = 0; k < kEach; ++k)
                got[t].push_back(racehunt::file_failure(out, 7, runs[t * kEach + k]));
        });
    for (auto& w : workers)
        w.join();
    std::set<fs::path> distinct;
    for (const auto& g : got)
        for (const auto& p : g) {
            EXPECT_EQ(p.parent_path(), out / "failures") << p;
            distinct.insert(p);
        }
    EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads * kEach));
    std::set<int> contents;
    for (const auto& p : distinct) {
        std::ifstream in(p / "py-1.jsonl");
        int i = -1;
        in >> i;
        contents.insert(i);
    }
    EXPECT_EQ(contents.size(), static_cast<std::size_t>(kThreads * kEach));
    EXPECT_TRUE(fs::is_empty(out / "runs"));
    fs::remove_all(out);
}

TEST(Filing, ARunThatCannotMoveStaysWhereItIs) {
    const fs::path out = fresh_dir("rh-filing-missing");
    const fs::path gone = out / "runs" / "never-made";
    EXPECT_EQ(racehunt::file_failure(out, 1, gone), gone);
    EXPECT_FALSE(fs::exists(out / "failures" / "0000000000000001"));
    fs::remove_all(out);
}
