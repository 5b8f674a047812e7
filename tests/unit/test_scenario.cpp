#include "cli/options.hpp"
#include "scenario/scenario.hpp"
#include "util/error.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

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

// [run] start and preload: the fork-server start mode.

namespace {

const char* kRunHead = "[workload]\nscript = \"a.py\"\n[run]\n"; // [run] keys start on line 4

} // namespace

TEST(Scenario, StartAndPreloadDefaults) {
    Scenario s = parse(kMinimal);
    EXPECT_FALSE(s.run.start.has_value()); // absent means fresh
    EXPECT_TRUE(s.run.preload.empty());
    EXPECT_EQ(s.locations.count("run.start"), 0u);
    EXPECT_EQ(s.locations.count("run.preload"), 0u);
}

TEST(Scenario, StartAndPreloadParseWithLocations) {
    Scenario s =
        parse(std::string(kRunHead) + "start = \"fork-server\"\n"
                                      "preload = [\"numpy\", \"mypkg.models\", \"_priv.x2\"]\n");
    EXPECT_EQ(s.run.start, std::optional<std::string>("fork-server"));
    EXPECT_EQ(s.run.preload, (std::vector<std::string>{"numpy", "mypkg.models", "_priv.x2"}));
    EXPECT_EQ(s.where("run.start").str(), "/tmp/racehunt-tests/scen/scenario.toml:4:9");
    EXPECT_EQ(s.where("run.preload").str(), "/tmp/racehunt-tests/scen/scenario.toml:5:11");

    EXPECT_EQ(parse(std::string(kRunHead) + "start = \"fresh\"\n").run.start,
              std::optional<std::string>("fresh"));
}

TEST(Scenario, PreloadNeedsNoForkServer) {
    // Only fork-server starts use it, but it is not an error elsewhere (the runner warns).
    Scenario fresh = parse(std::string(kRunHead) + "start = \"fresh\"\npreload = [\"json\"]\n");
    EXPECT_EQ(fresh.run.preload, std::vector<std::string>{"json"});
    Scenario absent = parse(std::string(kRunHead) + "preload = [\"json\"]\n");
    EXPECT_EQ(absent.run.preload, std::vector<std::string>{"json"});
    Scenario cmd = parse("[workload]\ncommand = [\"bash\", \"x.sh\"]\n[run]\n"
                         "start = \"fork-server\"\npreload = [\"json\"]\n");
    EXPECT_EQ(cmd.kind, WorkloadKind::Command);
    EXPECT_EQ(cmd.run.preload, std::vector<std::string>{"json"});
    EXPECT_TRUE(parse(std::string(kRunHead) + "preload = []\n").run.preload.empty());
}

TEST(Scenario, BadStartSuggestsWithLocation) {
    std::string e = error_of(std::string(kRunHead) + "start = \"forkserver\"\n");
    EXPECT_NE(e.find("scenario.toml:4:9"), std::string::npos) << e;
    EXPECT_NE(e.find("\"forkserver\" is not a valid run.start"), std::string::npos) << e;
    EXPECT_NE(e.find("did you mean \"fork-server\"?"), std::string::npos) << e;

    e = error_of(std::string(kRunHead) + "start = \"sideways\"\n");
    EXPECT_NE(e.find("scenario.toml:4:9"), std::string::npos) << e;
    EXPECT_NE(e.find("use one of: fresh, fork-server"), std::string::npos) << e;

    e = error_of(std::string(kRunHead) + "start = 1\n");
    EXPECT_NE(e.find("scenario.toml:4:9"), std::string::npos) << e;
    EXPECT_NE(e.find("run.start must be a string, found an integer"), std::string::npos) << e;
}

TEST(Scenario, TyposOfStartAndPreloadKeys) {
    std::string e = error_of(std::string(kRunHead) + "preloads = [\"numpy\"]\n");
    EXPECT_NE(e.find("scenario.toml:4:1"), std::string::npos) << e;
    EXPECT_NE(e.find("did you mean \"preload\"?"), std::string::npos) << e;
    e = error_of("start = \"fork-server\"\n[workload]\nscript = \"a.py\"\n");
    EXPECT_NE(e.find("scenario.toml:1:1"), std::string::npos) << e;
    EXPECT_NE(e.find("belongs in [run]"), std::string::npos) << e;
}

TEST(Scenario, PreloadErrorsNameTheElement) {
    struct Case {
        std::string line;     // line 4 of the file
        std::string location; // line:col of the bad element
        std::string message;  // part of the message
        std::string hint;     // part of the fix
    };
    const std::string module_hint = "e.g. \"numpy\" or \"mypkg.models\"";
    const std::vector<Case> cases = {
        {"preload = [\"\"]", ":4:12", "run.preload[0] \"\" is not a Python module name",
         module_hint},
        {"preload = [\"numpy\", \"a..b\"]", ":4:21",
         "run.preload[1] \"a..b\" is not a Python module name", module_hint},
        {"preload = [\"1abc\"]", ":4:12", "\"1abc\" is not a Python module name", module_hint},
        {"preload = [\"os.path/x\"]", ":4:12", "\"os.path/x\" is not a Python module name",
         module_hint},
        {"preload = [\".rel\"]", ":4:12", "\".rel\" is not a Python module name", module_hint},
        {"preload = [\"pkg.\"]", ":4:12", "\"pkg.\" is not a Python module name", module_hint},
        {"preload = [\"pkg.1x\"]", ":4:12", "\"pkg.1x\" is not a Python module name", module_hint},
        {"preload = [\"my-pkg\"]", ":4:12", "\"my-pkg\" is not a Python module name", module_hint},
        {"preload = [\" numpy\"]", ":4:12", "\" numpy\" is not a Python module name", module_hint},
        {"preload = [\"numpy\", 3]", ":4:21", "run.preload[1] must be a string, found an integer",
         "write module names as quoted strings"},
        {"preload = [[\"numpy\"]]", ":4:12", "run.preload[0] must be a string, found an array",
         "write module names as quoted strings"},
        {"preload = [\"numpy\", \"json\", \"numpy\"]", ":4:29",
         "run.preload[2] \"numpy\" is listed twice", "remove the repeated entry"},
        {"preload = \"numpy\"", ":4:11",
         "run.preload must be an array of module names, found a string",
         "write preload = [\"numpy\"]"},
        {"preload = \"mypkg.models\"", ":4:11", "must be an array of module names, found a string",
         "write preload = [\"mypkg.models\"]"},
        {"preload = 7", ":4:11", "run.preload must be an array of module names, found an integer",
         "write preload = [\"numpy\"]"},
    };
    for (const auto& c : cases) {
        std::string e = error_of(std::string(kRunHead) + c.line + "\n");
        EXPECT_NE(e.find("scenario.toml" + c.location + ":"), std::string::npos) << c.line << "\n"
                                                                                 << e;
        EXPECT_NE(e.find(c.message), std::string::npos) << c.line << "\n" << e;
        EXPECT_NE(e.find(c.hint), std::string::npos) << c.line << "\n" << e;
    }
}

TEST(Scenario, PreloadErrorInAMultiLineArrayNamesItsLine) {
    std::string e =
        error_of(std::string(kRunHead) + "preload = [\n    \"numpy\",\n    \"bad name\",\n]\n");
    EXPECT_NE(e.find("scenario.toml:6:5:"), std::string::npos) << e;
    EXPECT_NE(e.find("\"bad name\" is not a Python module name"), std::string::npos) << e;
}

TEST(Scenario, StartAndPreloadRoundTrip) {
    Scenario s = parse(std::string(kRunHead) + "runs = 7\nstart = \"fork-server\"\n"
                                               "preload = [\"numpy\", \"mypkg.models\"]\n");
    std::string toml = scenario_to_toml(s);
    EXPECT_NE(toml.find("start = \"fork-server\""), std::string::npos) << toml;
    EXPECT_NE(toml.find("preload = [ \"numpy\", \"mypkg.models\" ]"), std::string::npos) << toml;
    Scenario back = parse(toml);
    EXPECT_TRUE(back.same_content(s)) << toml;
    EXPECT_EQ(back.run.start, s.run.start);
    EXPECT_EQ(back.run.preload, s.run.preload);

    // Absent stays absent; same_content sees both keys.
    Scenario plain = parse(kMinimal);
    Scenario plain_back = parse(scenario_to_toml(plain));
    EXPECT_FALSE(plain_back.run.start.has_value());
    EXPECT_TRUE(plain_back.run.preload.empty());
    EXPECT_TRUE(plain_back.same_content(plain));
    Scenario other = s;
    other.run.preload.pop_back();
    EXPECT_FALSE(other.same_content(s));
    other = s;
    other.run.start = "fresh";
    EXPECT_FALSE(other.same_content(s));
}

// --start on the command line.

TEST(CliStart, ForkServerAcceptedForRunReplayAndMinimize) {
    for (CommandKind kind : {CommandKind::Run, CommandKind::Replay, CommandKind::Minimize}) {
        RunOptions o = parse_run_options({"s.toml", "--start", "fork-server"}, kind);
        EXPECT_EQ(o.start, std::optional<std::string>("fork-server"));
        o = parse_run_options({"s.toml", "--start=fresh"}, kind);
        EXPECT_EQ(o.start, std::optional<std::string>("fresh"));
        EXPECT_FALSE(parse_run_options({"s.toml"}, kind).start.has_value());
    }
}

TEST(CliStart, UnknownModeIsAUsageErrorWithAHint) {
    for (CommandKind kind : {CommandKind::Run, CommandKind::Replay, CommandKind::Minimize}) {
        try {
            parse_run_options({"s.toml", "--start", "forkserver"}, kind);
            ADD_FAILURE() << "no error";
        } catch (const util::Error& e) {
            EXPECT_EQ(e.kind(), util::ErrorKind::Usage);
            EXPECT_EQ(e.where(), "--start");
            EXPECT_NE(e.message().find("unknown start mode \"forkserver\""), std::string::npos)
                << e.what();
            EXPECT_NE(e.hint().find("did you mean \"fork-server\"?"), std::string::npos)
                << e.what();
        }
    }
    try {
        parse_run_options({"s.toml", "--start", "sideways"}, CommandKind::Run);
        ADD_FAILURE() << "no error";
    } catch (const util::Error& e) {
        EXPECT_EQ(e.hint(), "use fresh or fork-server") << e.what();
    }
}

TEST(CliStart, CommandLineWinsOverTheScenario) {
    // A command workload: no interpreter to probe. `true` is on PATH. The bootstrap is
    // found through RACEHUNT_DATA_DIR (the source tree's injectors/).
    const char* old_data_dir = std::getenv("RACEHUNT_DATA_DIR");
    std::optional<std::string> saved =
        old_data_dir ? std::optional<std::string>(old_data_dir) : std::nullopt;
    ::setenv("RACEHUNT_DATA_DIR", RACEHUNT_SOURCE_DIR "/injectors", 1);
    struct Restore {
        std::optional<std::string> value;
        ~Restore() {
            if (value)
                ::setenv("RACEHUNT_DATA_DIR", value->c_str(), 1);
            else
                ::unsetenv("RACEHUNT_DATA_DIR");
        }
    } restore{saved};
    fs::path dir = fs::temp_directory_path() / "racehunt-cli-start-test";
    fs::create_directories(dir);
    Scenario s = parse_scenario("[workload]\ncommand = [\"true\"]\n[run]\n"
                                "start = \"fork-server\"\npreload = [\"json\", \"mypkg.models\"]\n",
                                dir / "s.toml");
    RunOptions o = parse_run_options({(dir / "s.toml").string(), "--out", (dir / "out").string()},
                                     CommandKind::Run);
    CampaignConfig c = make_campaign_config(s, o, CommandKind::Run);
    EXPECT_EQ(c.start, "fork-server");
    EXPECT_FALSE(c.start_from_cli);
    EXPECT_EQ(c.preload, (std::vector<std::string>{"json", "mypkg.models"}));

    o = parse_run_options(
        {(dir / "s.toml").string(), "--out", (dir / "out").string(), "--start", "fresh"},
        CommandKind::Run);
    c = make_campaign_config(s, o, CommandKind::Run);
    EXPECT_EQ(c.start, "fresh");
    EXPECT_TRUE(c.start_from_cli);
    EXPECT_EQ(c.preload, (std::vector<std::string>{"json", "mypkg.models"}));

    Scenario plain = parse_scenario("[workload]\ncommand = [\"true\"]\n", dir / "s.toml");
    o = parse_run_options({(dir / "s.toml").string(), "--out", (dir / "out").string()},
                          CommandKind::Replay);
    c = make_campaign_config(plain, o, CommandKind::Replay);
    EXPECT_EQ(c.start, "fresh");
    EXPECT_FALSE(c.start_from_cli);
    EXPECT_TRUE(c.preload.empty());
}

TEST(Scenario, RunLimits) {
    Scenario s = parse(std::string(kRunHead) + "max_processes = 64\nmemory_limit = \"512MiB\"\n");
    EXPECT_EQ(s.run.max_processes, 64);
    EXPECT_EQ(s.run.memory_limit, std::optional<std::uint64_t>(512ull << 20));
    Scenario back = parse(scenario_to_toml(s));
    EXPECT_TRUE(back.same_content(s));
    EXPECT_FALSE(parse(kMinimal).run.max_processes.has_value());
    EXPECT_FALSE(parse(kMinimal).run.memory_limit.has_value());

    std::string e = error_of(std::string(kRunHead) + "max_processes = 0\n");
    EXPECT_NE(e.find("scenario.toml:4:17"), std::string::npos) << e;
    e = error_of(std::string(kRunHead) + "memory_limit = \"lots\"\n");
    EXPECT_NE(e.find("scenario.toml:4:16"), std::string::npos) << e;
    EXPECT_NE(e.find("invalid size for run.memory_limit"), std::string::npos) << e;
    e = error_of(std::string(kRunHead) + "max_proceses = 3\n");
    EXPECT_NE(e.find("did you mean \"max_processes\"?"), std::string::npos) << e;
}

// Found by fuzzing (fuzz/corpus/cli/regress-percent-value): Boost.Program_options' own
// message for a bad value loops forever when the value holds "%value%", and an empty
// second operand made an error without a location.
TEST(CliFuzzRegressions, BadValuesAndEmptyOperandsNameTheirPlace) {
    try {
        parse_run_options({"s.toml", "-j", "sce%value%'nar"}, CommandKind::Run);
        ADD_FAILURE() << "a non-numeric -j was accepted";
    } catch (const util::Error& e) {
        EXPECT_FALSE(e.where().empty());
        EXPECT_NE(std::string(e.what()).find("invalid value"), std::string::npos) << e.what();
    }
    try {
        parse_run_options({"a.toml", ""}, CommandKind::Replay);
        ADD_FAILURE() << "two operands were accepted by replay";
    } catch (const util::Error& e) {
        EXPECT_FALSE(e.where().empty()) << e.what();
    }
}

TEST(Scenario, AsyncioJitterAndCheckKeys) {
    Scenario s = parse(std::string(kMinimal) +
                       "[jitter.asyncio]\nshuffle = 0.5\ndefer = 0.1\n[check]\nasyncio_warnings = \"fail\"\n");
    EXPECT_EQ(s.jitter.loop_shuffle, 0.5);
    EXPECT_EQ(s.jitter.loop_defer, 0.1);
    EXPECT_EQ(s.check.asyncio_warnings, "fail");
    EXPECT_EQ(parse(kMinimal).check.asyncio_warnings, "warn");
    // The round trip keeps them.
    Scenario again = parse(scenario_to_toml(s));
    EXPECT_EQ(again.jitter, s.jitter);
    EXPECT_EQ(again.check, s.check);

    std::string e = error_of(std::string(kMinimal) + "[jitter.asyncio]\nshuffle = 2\n");
    EXPECT_NE(e.find("scenario.toml:4:11"), std::string::npos) << e;
    e = error_of(std::string(kMinimal) + "[jitter.asyncio]\nshufle = 0.5\n");
    EXPECT_NE(e.find("shuffle"), std::string::npos) << e;
    e = error_of(std::string(kMinimal) + "[check]\nasyncio_warnings = \"error\"\n");
    EXPECT_NE(e.find("scenario.toml:4:20"), std::string::npos) << e;
    EXPECT_NE(e.find("fail"), std::string::npos) << e;
}
