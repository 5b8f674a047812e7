#include "campaign/preflight.hpp"

#include "run/probe.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace racehunt {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string one_line(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    std::replace(s.begin(), s.end(), '\r', ' ');
    return s;
}

} // namespace

std::optional<std::string> invariant_error_message(const std::string& probe_output,
                                                   const Scenario& s, std::string& where,
                                                   std::string& hint) {
    auto lines = util::last_lines(probe_output, 1);
    if (lines.empty())
        return std::nullopt;
    json j = json::parse(lines[0], nullptr, false);
    if (!j.is_array() || j.size() < 4 || !j[0].is_number_unsigned() || !j[2].is_string())
        return std::nullopt;
    const std::size_t i = j[0].get<std::size_t>();
    if (i >= s.check.invariants.size())
        return std::nullopt;
    const std::string key = "check.invariants[" + std::to_string(i) + "]";
    where = s.where(key).str();
    const std::string message = j[2].get<std::string>();
    const long column = j[3].is_number_integer() ? j[3].get<long>() : 0;
    hint = column > 0 ? "at column " + std::to_string(column) + " of the expression; " : "";
    return key + ": " + one_line(message) + ": " + one_line(s.check.invariants[i]);
}

void check_invariants(const fs::path& python, const std::string& version, const Scenario& s) {
    if (s.check.invariants.empty())
        return;
    // The invariants travel as one JSON argument (no shell is involved); compile() with
    // "eval" is exactly what the bootstrap does before evaluating one. -I: nothing of the
    // user's environment or directory can shadow json.
    const std::string code =
        "import json, sys\n"
        "result = None\n"
        "for i, e in enumerate(json.loads(sys.argv[1])):\n"
        "    try:\n"
        "        compile(e, '<invariant>', 'eval')\n"
        "    except SyntaxError as x:\n"
        "        result = [i, type(x).__name__, x.msg or str(x), x.offset or 0]\n"
        "    except (ValueError, TypeError) as x:\n"
        "        result = [i, type(x).__name__, str(x), 0]\n"
        "    if result:\n"
        "        break\n"
        "print(json.dumps(result))\n";
    const std::string invariants = json(s.check.invariants).dump();
    auto r = run_probe({python.string(), "-I", "-c", code, invariants}, std::chrono::seconds(30));
    if (!r || r->exit_code != 0)
        return; // the interpreter was probed already; the runs will say what is wrong
    std::string where, hint;
    if (auto message = invariant_error_message(r->output, s, where, hint))
        throw util::usage_error(
            where, *message,
            hint + "an invariant is a Python expression, compiled here by Python " + version +
                " (" + python.string() + ") as in the runs");
}

void collect_pytest_node(const fs::path& python, const Scenario& s) {
    // As the runs start pytest (same node, same arguments, same directory and scenario
    // environment), but only collecting.
    std::vector<std::string> argv = {python.string(),    "-m",          "pytest",
                                     "--collect-only",   "-q",          "-p",
                                     "no:cacheprovider", pytest_node(s)};
    argv.insert(argv.end(), s.args.begin(), s.args.end());
    const auto timeout = std::max<std::chrono::milliseconds>(
        std::chrono::seconds(120),
        std::chrono::duration_cast<std::chrono::milliseconds>(s.timeout));
    ProbeOptions options;
    options.cwd = s.resolved_cwd();
    options.with_stderr = true;
    auto r = run_probe(argv, timeout, s.env, options);
    if (!r)
        return; // pytest was found a moment ago; the runs will say what is wrong
    if (r->exit_code < 0) {
        std::fprintf(stderr,
                     "racehunt: warning: %s: pytest did not finish collecting \"%s\" within %llds; "
                     "running the campaign without that check\n",
                     s.where("workload.pytest").str().c_str(), s.target.c_str(),
                     static_cast<long long>(timeout.count() / 1000));
        return;
    }
    if (r->exit_code == 0)
        return;
    // pytest's exit statuses: 2 interrupted (an error while collecting), 3 internal error,
    // 4 usage error (a node that is not found is one), 5 no tests collected.
    std::string what;
    switch (r->exit_code) {
    case 2:
        what = "pytest could not collect";
        break;
    case 4:
        what = "pytest cannot find or run";
        break;
    case 5:
        what = "pytest collected no test from";
        break;
    default:
        what = "pytest failed to collect";
    }
    std::string message = what + " \"" + s.target + "\" (pytest --collect-only exit status " +
                          std::to_string(r->exit_code) + ", in " + options.cwd.string() +
                          "); no run was started:";
    for (const auto& line : util::last_lines(r->output, 20))
        message += "\n    " + line;
    message +=
        "\n  workload.pytest is relative to the scenario file; add --no-config-check to run anyway";
    throw util::usage_error(s.where("workload.pytest").str(), message);
}

} // namespace racehunt
