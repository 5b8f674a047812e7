#include "run/interpreter.hpp"

#include "run/probe.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <sys/stat.h>
#include <unistd.h>

extern char** environ;

namespace racehunt {

namespace fs = std::filesystem;

namespace {

// Marks the start of the NUL-separated part of the probe's output.
constexpr const char* kProbeTag = "racehunt-probe";

// Variables a shell sets about itself whenever it runs a script: a wrapper's value of
// these says nothing about what the interpreter needs.
bool shell_bookkeeping(const std::string& name) {
    return name == "_" || name == "SHLVL" || name == "PWD" || name == "OLDPWD";
}

} // namespace

const std::string& interpreter_probe_code() {
    // print(..., flush=True) is a syntax error before Python 3: such an interpreter gives
    // no version line and is reported as not a Python interpreter.
    static const std::string code =
        "import sys\n"
        "print('%d.%d.%d' % sys.version_info[:3], flush=True)\n"
        "if sys.version_info >= (3, 8):\n"
        "    import compileall, os\n"
        "    compileall.compile_dir(sys.argv[1], quiet=2)\n"
        "    argv = getattr(sys, 'orig_argv', None)\n"
        "    env = [k + b'=' + v for k, v in os.environb.items()]\n"
        "    out = [b'racehunt-probe', os.fsencode(sys.executable or ''),\n"
        "           b'argv', str(-1 if argv is None else len(argv)).encode()]\n"
        "    out += [os.fsencode(a) for a in argv or ()]\n"
        "    out += [b'env', str(len(env)).encode()] + env + [b'end', b'']\n"
        "    sys.stdout.flush()\n"
        "    sys.stdout.buffer.write(b'\\0'.join(out))\n"
        "    sys.stdout.flush()\n";
    return code;
}

InterpreterProbe parse_interpreter_probe(const std::string& output) {
    InterpreterProbe p;
    const auto nl = output.find('\n');
    std::string version = output.substr(0, nl);
    if (nl == std::string::npos || version.empty() || version.find('.') == std::string::npos ||
        !std::all_of(version.begin(), version.end(), [](char ch) { return (ch >= '0' && ch <= '9') || ch == '.'; }))
        return p;
    p.version = version;

    // The NUL-separated fields; a field that is cut off (output over the probe's cap, a
    // killed interpreter) leaves the probe incomplete, and incomplete means unused.
    std::vector<std::string> fields;
    std::size_t pos = nl + 1;
    while (pos < output.size()) {
        auto end = output.find('\0', pos);
        if (end == std::string::npos)
            break; // a trailing piece without its NUL: cut off
        fields.push_back(output.substr(pos, end - pos));
        pos = end + 1;
    }
    std::size_t i = 0;
    auto next = [&]() -> const std::string* { return i < fields.size() ? &fields[i++] : nullptr; };
    auto count = [&](long long min) -> std::optional<long long> {
        const std::string* f = next();
        if (!f || f->empty() || f->size() > 9)
            return std::nullopt;
        char* end = nullptr;
        long long n = std::strtoll(f->c_str(), &end, 10);
        if (*end || n < min)
            return std::nullopt;
        return n;
    };
    const std::string* tag = next();
    if (!tag || *tag != kProbeTag)
        return p;
    const std::string* exe = next();
    if (!exe)
        return p;
    p.executable = *exe;
    const std::string* t = next();
    auto argc = count(-1);
    if (!t || *t != "argv" || !argc)
        return p;
    if (*argc >= 0) {
        std::vector<std::string> argv;
        for (long long k = 0; k < *argc; ++k) {
            const std::string* a = next();
            if (!a)
                return p;
            argv.push_back(*a);
        }
        p.orig_argv = std::move(argv);
    }
    t = next();
    auto envc = count(0);
    if (!t || *t != "env" || !envc)
        return p;
    for (long long k = 0; k < *envc; ++k) {
        const std::string* e = next();
        if (!e)
            return p;
        auto eq = e->find('=');
        if (eq == std::string::npos || eq == 0)
            continue;
        p.environ[e->substr(0, eq)] = e->substr(eq + 1);
    }
    t = next();
    p.complete = t && *t == "end";
    return p;
}

std::map<std::string, std::string> environment_with(const std::map<std::string, std::string>& extra) {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string entry(*e);
        auto eq = entry.find('=');
        if (eq != std::string::npos && eq > 0)
            env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
    for (const auto& [k, v] : extra)
        env[k] = v;
    return env;
}

bool is_executable_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

bool same_file(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    return fs::equivalent(a, b, ec);
}

Interpreter resolve_interpreter(const fs::path& named, const InterpreterProbe& probe,
                                const std::map<std::string, std::string>& given_env,
                                const std::vector<std::string>& probe_args, const FileChecks& files) {
    Interpreter in;
    in.version = probe.version;
    in.named = named;
    in.executable = named;
    if (!probe.complete || probe.executable.empty())
        return in;
    fs::path real = fs::path(probe.executable);
    // A relative sys.executable is relative to a directory we cannot be sure of.
    if (!real.is_absolute())
        return in;
    real = real.lexically_normal();
    // Not the named file itself. The path is kept as the interpreter gave it, symlinks
    // and all: a virtual environment's bin/python is a symlink, and the interpreter finds
    // its environment from the path it was started by.
    if (real == named || !files.executable(real) || files.same(real, named))
        return in;

    // The wrapper's own interpreter options are what sys.orig_argv holds before the
    // probe's arguments. When it does not end with them the wrapper changed the command
    // line in a way runs could not repeat: keep starting the wrapper.
    std::vector<std::string> options;
    if (probe.orig_argv) {
        const auto& argv = *probe.orig_argv;
        if (argv.size() < probe_args.size() + 1 ||
            !std::equal(probe_args.rbegin(), probe_args.rend(), argv.rbegin()))
            return in;
        options.assign(argv.begin() + 1, argv.end() - static_cast<std::ptrdiff_t>(probe_args.size()));
    }

    in.executable = real;
    in.wrapped = true;
    in.options = std::move(options);
    for (const auto& [k, v] : probe.environ) {
        if (shell_bookkeeping(k))
            continue;
        auto it = given_env.find(k);
        if (it == given_env.end() || it->second != v)
            in.env[k] = v;
    }
    for (const auto& [k, v] : given_env)
        if (!shell_bookkeeping(k) && !probe.environ.count(k))
            in.env[k] = std::nullopt;
    return in;
}

Interpreter probe_interpreter(const fs::path& python, const fs::path& bootstrap, const std::string& where,
                              const std::map<std::string, std::string>& env, const fs::path& cwd) {
    const std::vector<std::string> args = {"-c", interpreter_probe_code(), bootstrap.string()};
    std::vector<std::string> argv = {python.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_probe(argv, std::chrono::seconds(60), env, ProbeOptions{cwd});
    const InterpreterProbe probe = r ? parse_interpreter_probe(r->output) : InterpreterProbe{};
    const std::string& version = probe.version;
    if (version.empty())
        throw util::usage_error(where, python.string() + " does not run as a Python interpreter",
                                "name a Python 3.8+ interpreter");
    int major = 0, minor = 0;
    std::sscanf(version.c_str(), "%d.%d", &major, &minor);
    if (major < 3 || (major == 3 && minor < 8))
        throw util::usage_error(where, python.string() + " is Python " + version +
                                           "; racehunt supports Python 3.8 and newer",
                                "name a newer interpreter");
    return resolve_interpreter(python, probe, environment_with(env), args);
}

void require_pytest(const fs::path& python, const std::map<std::string, std::string>& env,
                    const std::string& where) {
    auto r = run_probe({python.string(), "-c", "import pytest; print(pytest.__version__)"},
                       std::chrono::seconds(30), env);
    if (!r || r->exit_code != 0)
        throw util::usage_error(where, "pytest is not installed for " + python.string(),
                                "install it (Debian: apt-get install python3-pytest) or choose an "
                                "interpreter that has it");
}

} // namespace racehunt
