#include "scenario/scenario.hpp"
#include "util/error.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace racehunt;
namespace fs = std::filesystem;

namespace {

Scenario parse(const std::string& text) {
    return parse_scenario(text, "/tmp/racehunt-tests/scen/scenario.toml");
}

// The message of the util::Error that parsing `text` throws.
std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const util::Error& e) {
        EXPECT_EQ(e.kind(), util::ErrorKind::Usage);
        return e.what();
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return "";
}

const char* kMinimal = "[workload]\nscript = \"bank.py\"\n";

} // namespace

TEST(Scenario, MinimalFileGetsDefaults) {
    Scenario s = parse(kMinimal);
    EXPECT_EQ(s.name, "scen"); // scenario.toml is named after its directory
    EXPECT_EQ(s.kind, WorkloadKind::Script);
    EXPECT_EQ(s.target, "bank.py");
    EXPECT_EQ(s.python, std::vector<std::string>{"python3"});
    EXPECT_EQ(s.timeout, std::chrono::seconds(10));
    EXPECT_EQ(s.check.exit_code, 0);
    EXPECT_EQ(s.check.thread_exceptions, "fail");
    EXPECT_EQ(s.check.leaked_threads, "fail");
    EXPECT_FALSE(s.run.runs.has_value());
    EXPECT_FALSE(s.jitter.profile.has_value());
}

TEST(Scenario, NameDefaultsToFileStem) {
    Scenario s = parse_scenario(kMinimal, "/x/bank-transfer.toml");
    EXPECT_EQ(s.name, "bank-transfer");
}

TEST(Scenario, FullDesignExampleParses) {
    Scenario s = parse(R"(
name = "bank-transfer"
description = "lost update between deposit and withdraw"
[workload]
script = "bank.py"
args = ["--fast"]
python = "python3"
cwd = "."
env = { BANK_MODE = "fast" }
timeout = "10s"
[jitter]
profile = "default"
switch_interval = "random"
shim = { probability = 0.05, max_delay = "200us" }
yields = { probability = 0.01, granularity = "line", focus = ["bank.py"] }
[check]
exit_code = 0
thread_exceptions = "fail"
invariants = ["account.balance == 1000"]
leaked_threads = "fail"
[run]
runs = 100
jobs = 0
seed = 1
)");
    EXPECT_EQ(s.name, "bank-transfer");
    EXPECT_EQ(s.args, std::vector<std::string>{"--fast"});
    EXPECT_EQ(s.env.at("BANK_MODE"), "fast");
    EXPECT_EQ(s.jitter.switch_interval->kind, SwitchInterval::Kind::Random);
    EXPECT_DOUBLE_EQ(*s.jitter.shim_probability, 0.05);
    EXPECT_EQ(*s.jitter.shim_max_delay, std::chrono::microseconds(200));
    EXPECT_EQ(*s.jitter.yield_granularity, "line");
    EXPECT_EQ(s.check.invariants.at(0), "account.balance == 1000");
    EXPECT_EQ(*s.run.runs, 100);
    EXPECT_EQ(*s.run.seed, 1u);
}

TEST(Scenario, ModulePytestAndCommandWorkloads) {
    EXPECT_EQ(parse("[workload]\nmodule = \"pkg.mod\"\n").kind, WorkloadKind::Module);
    EXPECT_EQ(parse("[workload]\npytest = \"t.py::test_x\"\n").kind, WorkloadKind::Pytest);
    Scenario c = parse("[workload]\ncommand = [\"bash\", \"start.sh\"]\n");
    EXPECT_EQ(c.kind, WorkloadKind::Command);
    EXPECT_EQ(c.command, (std::vector<std::string>{"bash", "start.sh"}));
}

TEST(Scenario, PythonListIsAMatrix) {
    Scenario s = parse("[workload]\nscript = \"a.py\"\npython = [\"python3.8\", \"python3.13\"]\n");
    EXPECT_EQ(s.python.size(), 2u);
}

TEST(Scenario, FixedSwitchIntervalInSeconds) {
    Scenario s = parse("[workload]\nscript = \"a.py\"\n[jitter]\nswitch_interval = 1e-6\n");
    EXPECT_EQ(s.jitter.switch_interval->kind, SwitchInterval::Kind::Fixed);
    EXPECT_DOUBLE_EQ(s.jitter.switch_interval->seconds, 1e-6);
}

TEST(Scenario, TypoInKeySuggestsClosestKeyWithLocation) {
    std::string e = error_of("[workload]\nscript = \"a.py\"\ntimout = \"10s\"\n");
    EXPECT_NE(e.find("scenario.toml:3:1"), std::string::npos) << e;
    EXPECT_NE(e.find("unknown key \"timout\" in [workload]"), std::string::npos) << e;
    EXPECT_NE(e.find("did you mean \"timeout\"?"), std::string::npos) << e;
}

TEST(Scenario, KeyInWrongTableNamesTheRightTable) {
    std::string e = error_of("invariants = [\"x\"]\n[workload]\nscript = \"a.py\"\n");
    EXPECT_NE(e.find("belongs in [check]"), std::string::npos) << e;
}

TEST(Scenario, TypoInNestedTable) {
    std::string e = error_of("[workload]\nscript = \"a.py\"\n[jitter]\nshim = { probabilty = 0.1 }\n");
    EXPECT_NE(e.find("[jitter.shim]"), std::string::npos) << e;
    EXPECT_NE(e.find("did you mean \"probability\"?"), std::string::npos) << e;
}

TEST(Scenario, WrongTypeNamesKeyExpectedAndFound) {
    std::string e = error_of("[workload]\nscript = \"a.py\"\n[run]\nruns = \"many\"\n");
    EXPECT_NE(e.find("scenario.toml:4:8"), std::string::npos) << e;
    EXPECT_NE(e.find("run.runs must be an integer, found a string"), std::string::npos) << e;
}

TEST(Scenario, OutOfRangeValuesAreErrors) {
    EXPECT_NE(error_of("[workload]\nscript = \"a.py\"\n[run]\nruns = 0\n").find("out of range"),
              std::string::npos);
    EXPECT_NE(error_of("[workload]\nscript = \"a.py\"\n[run]\njobs = -1\n").find("out of range"),
              std::string::npos);
    EXPECT_NE(error_of("[workload]\nscript = \"a.py\"\n[check]\nexit_code = 300\n")
                  .find("out of range"),
              std::string::npos);
    EXPECT_NE(error_of("[workload]\nscript = \"a.py\"\n[jitter]\nshim = { probability = 1.5 }\n")
                  .find("out of range"),
              std::string::npos);
}

TEST(Scenario, BadEnumValueSuggests) {
    std::string e = error_of("[workload]\nscript = \"a.py\"\n[jitter]\nprofile = \"agressive\"\n");
    EXPECT_NE(e.find("did you mean \"aggressive\"?"), std::string::npos) << e;
}

TEST(Scenario, BadDurationIsAnError) {
    std::string e = error_of("[workload]\nscript = \"a.py\"\ntimeout = \"10 parsecs\"\n");
    EXPECT_NE(e.find("invalid duration for workload.timeout"), std::string::npos) << e;
    EXPECT_NE(error_of("[workload]\nscript = \"a.py\"\ntimeout = \"0s\"\n").find("invalid duration"),
              std::string::npos);
}

TEST(Scenario, TwoWorkloadKindsAreAnError) {
    std::string e = error_of("[workload]\nscript = \"a.py\"\nmodule = \"m\"\n");
    EXPECT_NE(e.find("both \"script\" and \"module\""), std::string::npos) << e;
}

TEST(Scenario, MissingWorkloadIsAnError) {
    EXPECT_NE(error_of("name = \"x\"\n").find("no [workload]"), std::string::npos);
    EXPECT_NE(error_of("[workload]\nargs = []\n").find("names no workload"), std::string::npos);
}

TEST(Scenario, InvalidTomlNamesLineAndColumn) {
    std::string e = error_of("[workload]\nscript = \"a.py\n");
    EXPECT_NE(e.find("scenario.toml:2:"), std::string::npos) << e;
    EXPECT_NE(e.find("invalid TOML"), std::string::npos) << e;
}

TEST(Scenario, NonStringArrayElementIsAnError) {
    std::string e = error_of("[workload]\nscript = \"a.py\"\nargs = [\"a\", 3]\n");
    EXPECT_NE(e.find("every element of workload.args must be a string"), std::string::npos) << e;
}

TEST(Scenario, SeedAcceptsHexString) {
    Scenario s = parse("[workload]\nscript = \"a.py\"\n[run]\nseed = \"ff\"\n");
    EXPECT_EQ(*s.run.seed, 255u);
}

TEST(Scenario, MissingScriptIsReportedAtTheKey) {
    fs::path dir = fs::temp_directory_path() / "racehunt-scenario-test";
    fs::create_directories(dir);
    std::ofstream(dir / "s.toml") << "[workload]\nscript = \"nope.py\"\n";
    Scenario s = load_scenario(dir / "s.toml");
    try {
        check_scenario_files(s);
        FAIL() << "no error";
    } catch (const util::Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("s.toml:2:10"), std::string::npos) << m;
        EXPECT_NE(m.find("nope.py not found"), std::string::npos) << m;
    }
}

TEST(Scenario, MissingFileIsAUsageError) {
    try {
        load_scenario("/nonexistent/racehunt/s.toml");
        FAIL();
    } catch (const util::Error& e) {
        EXPECT_EQ(e.kind(), util::ErrorKind::Usage);
        EXPECT_NE(std::string(e.what()).find("scenario file not found"), std::string::npos);
    }
}
