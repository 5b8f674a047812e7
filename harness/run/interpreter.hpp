// Asking an interpreter what it is, once per campaign: its version, and the executable that
// really runs. A name such as "python3" often finds a wrapper (pyenv's and asdf's shims
// are bash scripts that exec the chosen interpreter); starting the wrapper for every run
// costs tens of processes per run and puts racehunt's shim into all of them. The runs
// start the real interpreter instead, with what the wrapper would have given it: its
// interpreter options and the environment variables it set.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

// What the interpreter said about itself (the output of interpreter_probe_code()).
struct InterpreterProbe {
    std::string version;    // "3.11.7"; empty when the output is not a probe's
    std::string executable; // sys.executable, possibly empty
    // The rest is known only from an interpreter racehunt supports (3.8+), and only when
    // the output was complete.
    bool complete = false;
    std::optional<std::vector<std::string>> orig_argv; // sys.orig_argv (Python 3.10+)
    std::map<std::string, std::string> environ;        // os.environ as the interpreter saw it
};

// The Python code of the probe. It prints the version on the first line (also on
// interpreters too old for racehunt, so that the error can name their version), then,
// on 3.8+, byte-compiles the directory given as its first argument and writes the rest
// as NUL-separated fields.
const std::string& interpreter_probe_code();

// Reads the probe's output; a version of "" means it was not a probe's output.
InterpreterProbe parse_interpreter_probe(const std::string& output);

// How runs start the interpreter.
struct Interpreter {
    std::string version;
    std::filesystem::path executable;  // what runs start
    std::filesystem::path named;       // what was asked for (a path found on PATH)
    bool wrapped = false;              // executable is not `named`: `named` is a wrapper
    std::vector<std::string> options;  // interpreter options the wrapper passed
    // Variables the wrapper set (a value) or removed (nullopt), to apply on top of a run's
    // environment.
    std::map<std::string, std::optional<std::string>> env;
};

// racehunt's environment with `extra` set on top: what run_probe gives what it starts.
std::map<std::string, std::string> environment_with(const std::map<std::string, std::string>& extra);

// An executable regular file (symlinks followed).
bool is_executable_file(const std::filesystem::path& p);

// The same file (a symlink to it, a hard link): never a wrapper of itself.
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

// The file system questions resolve_interpreter asks (replaced in tests).
struct FileChecks {
    std::function<bool(const std::filesystem::path&)> executable = is_executable_file;
    std::function<bool(const std::filesystem::path&, const std::filesystem::path&)> same = same_file;
};

// Decides from a probe of `named`, started as `named probe_args...` in `given_env`: the
// executable the interpreter reports is used when it is an absolute path to an executable
// file that is not `named` itself, and the wrapper's own arguments can be told apart from
// the probe's (sys.orig_argv ends with probe_args, or is not known: before Python 3.10).
// Anything else keeps `named`.
Interpreter resolve_interpreter(const std::filesystem::path& named, const InterpreterProbe& probe,
                                const std::map<std::string, std::string>& given_env,
                                const std::vector<std::string>& probe_args, const FileChecks& files = {});

// Asks `python` its version and the executable that really runs, and byte-compiles the
// bootstrap in `bootstrap` for it: with PYTHONDONTWRITEBYTECODE set (common in CI images),
// every run would otherwise compile the bootstrap from source again, which costs more than
// the interpreter's own start-up. It asks in the runs' directory `cwd` with the runs'
// variables `env` on top of racehunt's environment, by which a wrapper may choose (pyenv
// reads .python-version there). Throws util::Error (Usage) naming `where` for a program that
// is not a Python interpreter, or one older than 3.8.
Interpreter probe_interpreter(const std::filesystem::path& python, const std::filesystem::path& bootstrap,
                              const std::string& where, const std::map<std::string, std::string>& env,
                              const std::filesystem::path& cwd);

// Throws util::Error (Usage) naming `where` when `python`, with `env` on top of racehunt's
// environment (it may bring pytest in through PYTHONPATH), cannot import pytest.
void require_pytest(const std::filesystem::path& python, const std::map<std::string, std::string>& env,
                    const std::string& where);

} // namespace racehunt
