// Resolving an interpreter through a wrapper (run/interpreter.hpp): reading the probe's
// output, and deciding what runs start, without files (the file checks are scripted).
#include "run/interpreter.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace racehunt;
namespace fs = std::filesystem;

namespace {

const std::string kCode = "CODE";
const std::string kBoot = "/opt/racehunt/python";
const std::vector<std::string> kArgs = {"-c", kCode, kBoot};

// The probe's output as interpreter_probe_code() writes it.
std::string output(const std::string& version, const std::string& exe,
                   const std::optional<std::vector<std::string>>& argv,
                   const std::vector<std::string>& env, bool cut = false) {
    std::string out = version + "\n";
    std::vector<std::string> f = {"racehunt-probe", exe, "argv",
                                  std::to_string(argv ? static_cast<long>(argv->size()) : -1)};
    if (argv)
        f.insert(f.end(), argv->begin(), argv->end());
    f.push_back("env");
    f.push_back(std::to_string(env.size()));
    f.insert(f.end(), env.begin(), env.end());
    f.push_back("end");
    f.push_back("");
    for (std::size_t i = 0; i < f.size(); ++i)
        out += f[i] + (i + 1 < f.size() ? std::string(1, '\0') : "");
    if (cut)
        out.resize(out.size() - 12);
    return out;
}

FileChecks files(std::set<std::string> executables, std::set<std::pair<std::string, std::string>> same = {}) {
    FileChecks f;
    f.executable = [executables](const fs::path& p) { return executables.count(p.string()) > 0; };
    f.same = [same](const fs::path& a, const fs::path& b) {
        return same.count({a.string(), b.string()}) > 0 || same.count({b.string(), a.string()}) > 0;
    };
    return f;
}

const fs::path kShim = "/root/.pyenv/shims/python3";
const std::string kReal = "/root/.pyenv/versions/3.11.7/bin/python3";
const std::map<std::string, std::string> kGiven = {
    {"PATH", "/root/.pyenv/shims:/usr/bin"}, {"HOME", "/root"}, {"SHLVL", "1"}};

std::vector<std::string> orig_argv(std::vector<std::string> options = {}) {
    std::vector<std::string> a = {kReal};
    a.insert(a.end(), options.begin(), options.end());
    a.insert(a.end(), kArgs.begin(), kArgs.end());
    return a;
}

} // namespace

TEST(InterpreterProbe, ReadsVersionExecutableArgvAndEnvironment) {
    auto p = parse_interpreter_probe(output("3.11.7", kReal, orig_argv(), {"A=1", "B=x=y", "EMPTY="}));
    EXPECT_EQ(p.version, "3.11.7");
    EXPECT_EQ(p.executable, kReal);
    ASSERT_TRUE(p.complete);
    ASSERT_TRUE(p.orig_argv);
    EXPECT_EQ(*p.orig_argv, orig_argv());
    EXPECT_EQ(p.environ, (std::map<std::string, std::string>{{"A", "1"}, {"B", "x=y"}, {"EMPTY", ""}}));
}

TEST(InterpreterProbe, KeepsNewlinesInsideFields) {
    auto p = parse_interpreter_probe(output("3.12.1", kReal, orig_argv(), {"MULTI=a\nb"}));
    ASSERT_TRUE(p.complete);
    EXPECT_EQ(p.environ.at("MULTI"), "a\nb");
}

TEST(InterpreterProbe, WithoutOrigArgvBefore310IsStillComplete) {
    auto p = parse_interpreter_probe(output("3.8.18", kReal, std::nullopt, {"A=1"}));
    EXPECT_TRUE(p.complete);
    EXPECT_FALSE(p.orig_argv);
}

TEST(InterpreterProbe, AnOldInterpreterGivesItsVersionOnly) {
    auto p = parse_interpreter_probe("3.6.15\n");
    EXPECT_EQ(p.version, "3.6.15");
    EXPECT_FALSE(p.complete);
}

TEST(InterpreterProbe, OutputThatIsNotAProbesHasNoVersion) {
    EXPECT_EQ(parse_interpreter_probe("").version, "");
    EXPECT_EQ(parse_interpreter_probe("Python 3.11.7\n").version, "");
    EXPECT_EQ(parse_interpreter_probe("3.11.7").version, ""); // no end of line
    EXPECT_EQ(parse_interpreter_probe("hello\n").version, "");
}

TEST(InterpreterProbe, CutOffOutputIsIncomplete) {
    auto p = parse_interpreter_probe(output("3.11.7", kReal, orig_argv(), {"A=1", "B=2"}, true));
    EXPECT_EQ(p.version, "3.11.7");
    EXPECT_FALSE(p.complete);
}

TEST(ResolveInterpreter, AWrapperIsReplacedByTheInterpreterItExecs) {
    auto probe = parse_interpreter_probe(output(
        "3.11.7", kReal, orig_argv(),
        {"PATH=/root/.pyenv/versions/3.11.7/bin:/root/.pyenv/shims:/usr/bin", "HOME=/root",
         "PYENV_VERSION=3.11.7", "SHLVL=2", "_=/root/.pyenv/libexec/pyenv", "PWD=/work"}));
    Interpreter in = resolve_interpreter(kShim, probe, kGiven, kArgs, files({kReal}));
    EXPECT_TRUE(in.wrapped);
    EXPECT_EQ(in.executable, kReal);
    EXPECT_EQ(in.named, kShim);
    EXPECT_EQ(in.version, "3.11.7");
    EXPECT_TRUE(in.options.empty());
    // What the wrapper set; a shell's own bookkeeping is not carried over.
    std::map<std::string, std::optional<std::string>> env = {
        {"PATH", "/root/.pyenv/versions/3.11.7/bin:/root/.pyenv/shims:/usr/bin"}, {"PYENV_VERSION", "3.11.7"}};
    EXPECT_EQ(in.env, env);
}

TEST(ResolveInterpreter, VariablesTheWrapperRemovedAreRemoved) {
    auto probe = parse_interpreter_probe(output("3.11.7", kReal, orig_argv(), {"PATH=/root/.pyenv/shims:/usr/bin"}));
    Interpreter in = resolve_interpreter(kShim, probe, kGiven, kArgs, files({kReal}));
    ASSERT_TRUE(in.wrapped);
    EXPECT_EQ(in.env, (std::map<std::string, std::optional<std::string>>{{"HOME", std::nullopt}}));
}

TEST(ResolveInterpreter, TheWrappersInterpreterOptionsAreKept) {
    auto probe = parse_interpreter_probe(output("3.11.7", kReal, orig_argv({"-X", "dev", "-W", "error"}), {}));
    Interpreter in = resolve_interpreter(kShim, probe, {}, kArgs, files({kReal}));
    ASSERT_TRUE(in.wrapped);
    EXPECT_EQ(in.options, (std::vector<std::string>{"-X", "dev", "-W", "error"}));
}

TEST(ResolveInterpreter, AWrapperThatChangesTheArgumentsIsKept) {
    // The wrapper appended an argument after ours: runs could not repeat that.
    std::vector<std::string> argv = orig_argv();
    argv.push_back("--extra");
    auto probe = parse_interpreter_probe(output("3.11.7", kReal, argv, {}));
    Interpreter in = resolve_interpreter(kShim, probe, {}, kArgs, files({kReal}));
    EXPECT_FALSE(in.wrapped);
    EXPECT_EQ(in.executable, kShim);
}

TEST(ResolveInterpreter, TheNamedInterpreterItselfIsNotAWrapper) {
    const std::string py = "/usr/bin/python3";
    auto probe = parse_interpreter_probe(output("3.11.2", py, std::vector<std::string>{py, "-c", kCode, kBoot},
                                                {"PATH=/usr/bin", "HOME=/root"}));
    Interpreter in = resolve_interpreter(py, probe, kGiven, kArgs, files({py}));
    EXPECT_FALSE(in.wrapped);
    EXPECT_EQ(in.executable, py);
    EXPECT_TRUE(in.env.empty());
}

TEST(ResolveInterpreter, ASymlinkToTheSameFileIsNotAWrapper) {
    // /usr/local/bin/python3 -> /usr/bin/python3.11 reporting the other name.
    auto probe = parse_interpreter_probe(output("3.11.2", "/usr/bin/python3.11", orig_argv(), {}));
    Interpreter in = resolve_interpreter("/usr/local/bin/python3", probe, {}, kArgs,
                                         files({"/usr/bin/python3.11"}, {{"/usr/bin/python3.11", "/usr/local/bin/python3"}}));
    EXPECT_FALSE(in.wrapped);
    EXPECT_EQ(in.executable, "/usr/local/bin/python3");
}

TEST(ResolveInterpreter, AnEmptyRelativeOrMissingExecutableKeepsTheNamedOne) {
    for (const std::string exe : {"", "python3", "/nowhere/python3"}) {
        auto probe = parse_interpreter_probe(output("3.11.7", exe, orig_argv(), {}));
        Interpreter in = resolve_interpreter(kShim, probe, {}, kArgs, files({kReal, "python3"}));
        EXPECT_FALSE(in.wrapped) << exe;
        EXPECT_EQ(in.executable, kShim) << exe;
        EXPECT_EQ(in.version, "3.11.7") << exe;
    }
}

TEST(ResolveInterpreter, AnIncompleteProbeKeepsTheNamedOne) {
    auto probe = parse_interpreter_probe(output("3.11.7", kReal, orig_argv(), {"A=1"}, true));
    Interpreter in = resolve_interpreter(kShim, probe, {}, kArgs, files({kReal}));
    EXPECT_FALSE(in.wrapped);
    EXPECT_EQ(in.executable, kShim);
}

TEST(ResolveInterpreter, TheReportedPathIsKeptAsGivenNotCanonical) {
    // A virtual environment's bin/python is a symlink; the interpreter finds its
    // environment from the path it was started by.
    const std::string venv = "/work/venv/bin/python";
    auto probe = parse_interpreter_probe(output("3.11.2", venv, std::vector<std::string>{venv, "-c", kCode, kBoot}, {}));
    Interpreter in = resolve_interpreter("/work/bin/py-wrapper", probe, {}, kArgs, files({venv}));
    ASSERT_TRUE(in.wrapped);
    EXPECT_EQ(in.executable, venv);
}

TEST(InterpreterProbe, TheCodeRunsOnOldInterpretersToo) {
    // print(..., flush=True) before anything else: a 3.6 gives its version for the error.
    const std::string& code = interpreter_probe_code();
    EXPECT_EQ(code.find("import sys\nprint('%d.%d.%d' % sys.version_info[:3], flush=True)\n"), 0u);
    EXPECT_NE(code.find("if sys.version_info >= (3, 8):"), std::string::npos);
}
