#include "scenario/scenario.hpp"

#include "util/duration.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace racehunt {

namespace fs = std::filesystem;

std::string Location::str() const {
    if (line <= 0)
        return file;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

Location Scenario::where(const std::string& key) const {
    auto it = locations.find(key);
    if (it != locations.end())
        return it->second;
    return Location{file.string(), 0, 0};
}

fs::path Scenario::resolved_cwd() const {
    fs::path p(cwd);
    return (p.is_absolute() ? p : dir / p).lexically_normal();
}

bool Scenario::same_content(const Scenario& o) const {
    return name == o.name && description == o.description && kind == o.kind &&
           target == o.target && command == o.command && args == o.args && python == o.python &&
           cwd == o.cwd && env == o.env && timeout == o.timeout && jitter == o.jitter &&
           check == o.check && run == o.run;
}

const char* to_string(WorkloadKind k) {
    switch (k) {
    case WorkloadKind::Script:
        return "script";
    case WorkloadKind::Module:
        return "module";
    case WorkloadKind::Pytest:
        return "pytest";
    case WorkloadKind::Command:
        return "command";
    }
    return "?";
}

std::string pytest_node(const Scenario& s) {
    const auto sep = s.target.find("::");
    fs::path file(s.target.substr(0, sep));
    std::string node = (file.is_absolute() ? file : s.dir / file).lexically_normal().string();
    if (sep != std::string::npos)
        node += s.target.substr(sep);
    return node;
}

namespace {

// The schema: known keys per table, so that typos get a suggestion.
const std::vector<std::string> kRootKeys = {"name", "description", "workload", "jitter", "check",
                                            "run"};
const std::vector<std::string> kWorkloadKeys = {"script", "module", "pytest", "command", "args",
                                                "python", "cwd",    "env",    "timeout"};
const std::vector<std::string> kJitterKeys = {"profile", "switch_interval", "shim", "yields", "asyncio",
                                               "mode", "strategy", "depth", "max_steps"};
const std::vector<std::string> kAsyncioKeys = {"shuffle", "defer"};
const std::vector<std::string> kShimKeys = {"probability", "max_delay", "starvation", "startup"};
const std::vector<std::string> kYieldKeys = {"probability", "granularity", "focus", "sites", "semantics"};
const std::vector<std::string> kCheckKeys = {"exit_code", "thread_exceptions", "invariants",
                                             "leaked_threads", "max_memory_growth",
                                             "asyncio_warnings"};

// "50MB", "512KiB", "2GB", "1000000" (bytes); decimal (kB, MB, GB) and binary (KiB, MiB, GiB)
// units. nullopt when not a size.
std::optional<std::uint64_t> parse_size(const std::string& text) {
    std::size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
        ++i;
    if (i == 0)
        return std::nullopt;
    double value = 0;
    try {
        value = std::stod(text.substr(0, i));
    } catch (...) {
        return std::nullopt;
    }
    std::string unit = text.substr(i);
    while (!unit.empty() && unit.front() == ' ')
        unit.erase(unit.begin());
    static const std::pair<const char*, double> units[] = {
        {"", 1},          {"B", 1},           {"kB", 1e3},        {"KB", 1e3},
        {"MB", 1e6},      {"GB", 1e9},        {"KiB", 1024.0},    {"MiB", 1048576.0},
        {"GiB", 1073741824.0}};
    for (const auto& [name, factor] : units)
        if (unit == name && std::isfinite(value * factor) && value * factor < 1.8e19)
            return static_cast<std::uint64_t>(value * factor);
    return std::nullopt;
}
const std::vector<std::string> kRunKeys = {"runs", "jobs", "seed", "start", "preload",
                                           "max_processes", "memory_limit"};

const std::map<std::string, const std::vector<std::string>*>& all_tables() {
    static const std::map<std::string, const std::vector<std::string>*> t = {
        {"", &kRootKeys},           {"workload", &kWorkloadKeys}, {"jitter", &kJitterKeys},
        {"jitter.shim", &kShimKeys}, {"jitter.yields", &kYieldKeys},
        {"jitter.asyncio", &kAsyncioKeys}, {"check", &kCheckKeys},
        {"run", &kRunKeys}};
    return t;
}

const char* type_name(toml::node_type t) {
    switch (t) {
    case toml::node_type::string:
        return "a string";
    case toml::node_type::integer:
        return "an integer";
    case toml::node_type::floating_point:
        return "a float";
    case toml::node_type::boolean:
        return "a boolean";
    case toml::node_type::array:
        return "an array";
    case toml::node_type::table:
        return "a table";
    default:
        return "a date/time";
    }
}

// Reads one table, remembering the file for error locations.
class TableReader {
public:
    TableReader(const toml::table& t, std::string path, std::string file, Scenario& s)
        : table_(t), path_(std::move(path)), file_(std::move(file)), s_(s) {}

    void reject_unknown_keys(const std::vector<std::string>& known) const {
        // Report the first unknown key in file order, so the message is stable.
        const toml::key* first = nullptr;
        for (auto&& [key, node] : table_) {
            (void)node;
            if (std::find(known.begin(), known.end(), key.str()) != known.end())
                continue;
            if (!first || key.source().begin < first->source().begin)
                first = &key;
        }
        if (!first)
            return;
        std::string k(first->str());
        std::string hint;
        if (auto m = util::closest_match(k, known))
            hint = "did you mean \"" + *m + "\"?";
        else {
            // A known key in the wrong table: point at the table it belongs to.
            for (auto& [table, keys] : all_tables()) {
                if (table != path_ && std::find(keys->begin(), keys->end(), k) != keys->end()) {
                    hint = "\"" + k + "\" belongs in [" + table + "]";
                    break;
                }
            }
            if (hint.empty())
                hint = "known keys: " + join(known);
        }
        throw util::usage_error(loc(first->source()).str(),
                                "unknown key \"" + k + "\" in " + table_label(), hint);
    }

    const toml::node* get(const std::string& key) {
        const toml::node* n = table_.get(key);
        if (n)
            s_.locations[qualified(key)] = loc(n->source());
        return n;
    }

    std::optional<std::string> string(const std::string& key) {
        const toml::node* n = get(key);
        if (!n)
            return std::nullopt;
        if (!n->is_string())
            wrong_type(key, *n, "a string");
        return std::string(*n->as_string());
    }

    std::optional<std::string> choice(const std::string& key,
                                      const std::vector<std::string>& allowed) {
        auto v = string(key);
        if (v && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
            std::string hint = "use one of: " + join(allowed);
            if (auto m = util::closest_match(*v, allowed))
                hint = "did you mean \"" + *m + "\"?";
            throw util::usage_error(where(key), "\"" + *v + "\" is not a valid " + qualified(key),
                                    hint);
        }
        return v;
    }

    std::optional<std::int64_t> integer(const std::string& key, std::int64_t lo,
                                        std::int64_t hi) {
        const toml::node* n = get(key);
        if (!n)
            return std::nullopt;
        if (!n->is_integer())
            wrong_type(key, *n, "an integer");
        std::int64_t v = **n->as_integer();
        if (v < lo || v > hi)
            throw util::usage_error(where(key),
                                    qualified(key) + " = " + std::to_string(v) + " is out of range",
                                    "use a value from " + std::to_string(lo) + " to " +
                                        std::to_string(hi));
        return v;
    }

    std::optional<double> number(const std::string& key, double lo, double hi) {
        const toml::node* n = get(key);
        if (!n)
            return std::nullopt;
        if (!n->is_number())
            wrong_type(key, *n, "a number");
        double v = n->value<double>().value_or(0);
        if (!std::isfinite(v) || v < lo || v > hi)
            throw util::usage_error(where(key),
                                    qualified(key) + " = " + util::format_double(v) +
                                        " is out of range",
                                    "use a value from " + util::format_double(lo) + " to " +
                                        util::format_double(hi));
        return v;
    }

    std::optional<bool> boolean(const std::string& key) {
        const toml::node* n = get(key);
        if (!n)
            return std::nullopt;
        if (!n->is_boolean())
            wrong_type(key, *n, "true or false");
        return **n->as_boolean();
    }

    std::optional<Nanos> duration(const std::string& key, bool allow_zero) {
        const toml::node* n = get(key);
        if (!n)
            return std::nullopt;
        std::optional<Nanos> d;
        if (n->is_string())
            d = util::parse_duration(**n->as_string());
        else if (n->is_number()) {
            double secs = n->value<double>().value_or(-1);
            if (std::isfinite(secs) && secs >= 0 && secs < 9e9)
                d = Nanos(static_cast<long long>(std::llround(secs * 1e9)));
        } else
            wrong_type(key, *n, "a duration like \"10s\" or \"200us\"");
        if (!d || (!allow_zero && d->count() == 0))
            throw util::usage_error(where(key), "invalid duration for " + qualified(key),
                                    "write a positive duration like \"10s\", \"500ms\" or \"200us\"");
        return d;
    }

    std::optional<std::uint64_t> size(const std::string& key) {
        const toml::node* n = get(key);
        if (!n)
            return std::nullopt;
        std::optional<std::uint64_t> v;
        if (n->is_string())
            v = parse_size(**n->as_string());
        else if (n->is_integer() && **n->as_integer() >= 0)
            v = static_cast<std::uint64_t>(**n->as_integer());
        else if (!n->is_integer())
            wrong_type(key, *n, "a size like \"50MB\" or a number of bytes");
        if (!v || *v == 0)
            throw util::usage_error(where(key), "invalid size for " + qualified(key),
                                    "write a positive size like \"50MB\", \"512KiB\" or 1000000");
        return v;
    }

    std::optional<std::vector<std::string>> strings(const std::string& key) {
        const toml::node* n = get(key);
        if (!n)
            return std::nullopt;
        if (!n->is_array())
            wrong_type(key, *n, "an array of strings");
        std::vector<std::string> out;
        for (auto&& el : *n->as_array()) {
            if (!el.is_string())
                throw util::usage_error(loc(el.source()).str(),
                                        "every element of " + qualified(key) +
                                            " must be a string, found " + type_name(el.type()));
            // Each element's place too ("check.invariants[1]"): later checks name it.
            s_.locations[qualified(key) + "[" + std::to_string(out.size()) + "]"] =
                loc(el.source());
            out.emplace_back(*el.as_string());
        }
        return out;
    }

    std::optional<TableReader> table(const std::string& key) {
        const toml::node* n = get(key);
        if (!n)
            return std::nullopt;
        if (!n->is_table())
            wrong_type(key, *n, "a table");
        return TableReader(*n->as_table(), qualified(key), file_, s_);
    }

    const toml::table& raw() const { return table_; }
    std::string where(const std::string& key) const {
        auto it = s_.locations.find(qualified(key));
        return it != s_.locations.end() ? it->second.str() : file_;
    }
    std::string qualified(const std::string& key) const {
        return path_.empty() ? key : path_ + "." + key;
    }
    Location loc(const toml::source_region& r) const {
        return Location{file_, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
    }

    [[noreturn]] void wrong_type(const std::string& key, const toml::node& n,
                                 const char* expected) const {
        throw util::usage_error(where(key), qualified(key) + " must be " + expected + ", found " +
                                                type_name(n.type()));
    }

private:
    std::string table_label() const { return path_.empty() ? "the top level" : "[" + path_ + "]"; }
    static std::string join(const std::vector<std::string>& v) {
        std::string out;
        for (const auto& x : v)
            out += (out.empty() ? "" : ", ") + x;
        return out;
    }

    const toml::table& table_;
    std::string path_;
    std::string file_;
    Scenario& s_;
};

void read_workload(TableReader& w, Scenario& s) {
    w.reject_unknown_keys(kWorkloadKeys);
    int kinds = 0;
    std::string first_kind_key;
    auto note_kind = [&](const std::string& key) {
        if (kinds++ == 0)
            first_kind_key = key;
        else
            throw util::usage_error(w.where(key),
                                    "[workload] has both \"" + first_kind_key + "\" and \"" + key +
                                        "\"",
                                    "keep exactly one of script, module, pytest, command");
    };
    if (auto v = w.string("script")) {
        note_kind("script");
        s.kind = WorkloadKind::Script;
        s.target = *v;
    }
    if (auto v = w.string("module")) {
        note_kind("module");
        s.kind = WorkloadKind::Module;
        s.target = *v;
    }
    if (auto v = w.string("pytest")) {
        note_kind("pytest");
        s.kind = WorkloadKind::Pytest;
        s.target = *v;
    }
    if (auto v = w.strings("command")) {
        note_kind("command");
        s.kind = WorkloadKind::Command;
        if (v->empty())
            throw util::usage_error(w.where("command"), "workload.command is empty",
                                    "give the program and its arguments, e.g. [\"bash\", \"start.sh\"]");
        s.command = *v;
    }
    if (kinds == 0)
        throw util::usage_error(w.loc(w.raw().source()).str(), "[workload] names no workload",
                                "add one of script = \"...\", module = \"...\", pytest = \"...\", "
                                "command = [...]");
    if (s.kind != WorkloadKind::Command && s.target.empty())
        throw util::usage_error(w.where(to_string(s.kind)), "workload." +
                                                                std::string(to_string(s.kind)) +
                                                                " is empty");
    if (auto v = w.strings("args"))
        s.args = *v;
    if (const toml::node* n = w.get("python")) {
        if (n->is_string())
            s.python = {std::string(*n->as_string())};
        else if (n->is_array())
            s.python = *w.strings("python");
        else
            w.wrong_type("python", *n, "a string or an array of strings");
        if (s.python.empty() || std::any_of(s.python.begin(), s.python.end(),
                                            [](const std::string& p) { return p.empty(); }))
            throw util::usage_error(w.where("python"), "workload.python names no interpreter",
                                    "write python = \"python3\" or a path");
    }
    if (auto v = w.string("cwd"))
        s.cwd = *v;
    if (auto env = w.table("env")) {
        for (auto&& [key, node] : env->raw()) {
            std::string k(key.str());
            if (!node.is_string())
                throw util::usage_error(env->loc(node.source()).str(),
                                        "workload.env." + k + " must be a string, found " +
                                            type_name(node.type()),
                                        "quote the value: " + k + " = \"...\"");
            s.env[k] = std::string(*node.as_string());
        }
    }
    if (auto d = w.duration("timeout", false))
        s.timeout = *d;
}

void read_jitter(TableReader& j, Scenario& s) {
    j.reject_unknown_keys(kJitterKeys);
    s.jitter.profile = j.choice("profile", {"none", "default", "aggressive"});
    if (const toml::node* n = j.get("switch_interval")) {
        SwitchInterval si;
        if (n->is_string()) {
            std::string v(*n->as_string());
            if (v == "keep")
                si.kind = SwitchInterval::Kind::Keep;
            else if (v == "random")
                si.kind = SwitchInterval::Kind::Random;
            else
                throw util::usage_error(j.where("switch_interval"),
                                        "\"" + v + "\" is not a valid jitter.switch_interval",
                                        "use \"keep\", \"random\" or seconds such as 1e-6");
        } else if (n->is_number()) {
            si.kind = SwitchInterval::Kind::Fixed;
            si.seconds = *j.number("switch_interval", 1e-9, 1.0);
            if (si.seconds <= 0)
                throw util::usage_error(j.where("switch_interval"),
                                        "jitter.switch_interval must be positive");
        } else
            j.wrong_type("switch_interval", *n, "\"keep\", \"random\" or a number of seconds");
        s.jitter.switch_interval = si;
    }
    if (auto shim = j.table("shim")) {
        shim->reject_unknown_keys(kShimKeys);
        s.jitter.shim_probability = shim->number("probability", 0, 1);
        s.jitter.shim_max_delay = shim->duration("max_delay", true);
        s.jitter.shim_starvation = shim->boolean("starvation");
        s.jitter.shim_startup = shim->boolean("startup");
    }
    if (auto y = j.table("yields")) {
        y->reject_unknown_keys(kYieldKeys);
        s.jitter.yield_probability = y->number("probability", 0, 1);
        s.jitter.yield_granularity = y->choice("granularity", {"line", "opcode", "call"});
        s.jitter.yield_focus = y->strings("focus");
        s.jitter.yield_sites = y->number("sites", 0, 1);
        s.jitter.yield_semantics = y->choice("semantics", {"native", "free-threaded"});
    }
    if (auto a = j.table("asyncio")) {
        a->reject_unknown_keys(kAsyncioKeys);
        s.jitter.loop_shuffle = a->number("shuffle", 0, 1);
        s.jitter.loop_defer = a->number("defer", 0, 1);
    }
    s.jitter.mode = j.choice("mode", {"noise", "controlled"});
    s.jitter.strategy = j.choice("strategy", {"random", "pct"});
    s.jitter.depth = j.integer("depth", 1, 100);
    s.jitter.max_steps = j.integer("max_steps", 1, INT64_MAX);
    if ((s.jitter.strategy || s.jitter.depth || s.jitter.max_steps) && s.jitter.mode.value_or("noise") != "controlled")
        throw util::usage_error(j.where(s.jitter.strategy ? "strategy" : s.jitter.depth ? "depth" : "max_steps"),
                                "jitter.strategy, depth and max_steps belong to the controlled mode",
                                "add mode = \"controlled\" to [jitter], or remove them");
    if (s.jitter.depth && s.jitter.strategy.value_or("random") != "pct")
        throw util::usage_error(j.where("depth"), "jitter.depth is the depth of the pct strategy",
                                "add strategy = \"pct\", or remove depth");
}

void read_check(TableReader& c, Scenario& s) {
    c.reject_unknown_keys(kCheckKeys);
    if (auto v = c.integer("exit_code", 0, 255))
        s.check.exit_code = static_cast<int>(*v);
    if (auto v = c.choice("thread_exceptions", {"fail", "ignore"}))
        s.check.thread_exceptions = *v;
    if (auto v = c.strings("invariants")) {
        for (std::size_t i = 0; i < v->size(); ++i)
            if ((*v)[i].find_first_not_of(" \t") == std::string::npos)
                throw util::usage_error(c.where("invariants[" + std::to_string(i) + "]"),
                                        "check.invariants[" + std::to_string(i) + "] is empty",
                                        "write a Python expression such as \"total == 1000\"");
        s.check.invariants = *v;
    }
    if (auto v = c.choice("leaked_threads", {"fail", "warn", "ignore"}))
        s.check.leaked_threads = *v;
    if (auto v = c.choice("asyncio_warnings", {"fail", "warn", "ignore"}))
        s.check.asyncio_warnings = *v;
    s.check.max_memory_growth = c.size("max_memory_growth");
}

// "numpy", "mypkg.models": identifiers separated by dots, as an import statement names a
// module. Bytes of non-ASCII characters pass (Python identifiers may use them); Python
// itself has the last word when it imports the module.
bool is_module_name(const std::string& name) {
    bool segment_start = true;
    for (char ch : name) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (c == '.') {
            if (segment_start)
                return false; // empty segment: leading dot or ".."
            segment_start = true;
            continue;
        }
        bool letter = std::isalpha(c) || c == '_' || c >= 0x80;
        if (!letter && !(std::isdigit(c) && !segment_start))
            return false;
        segment_start = false;
    }
    return !segment_start; // not empty, no trailing dot
}

void read_preload(TableReader& r, Scenario& s) {
    const toml::node* n = r.get("preload");
    if (!n)
        return;
    if (!n->is_array()) {
        std::string example = n->is_string() ? std::string(*n->as_string()) : "";
        if (!is_module_name(example))
            example = "numpy";
        throw util::usage_error(
            r.where("preload"),
            std::string("run.preload must be an array of module names, found ") +
                type_name(n->type()),
            "write preload = [\"" + example + "\"]");
    }
    const toml::array& a = *n->as_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
        const toml::node& el = a[i];
        const std::string where = r.loc(el.source()).str();
        const std::string label = "run.preload[" + std::to_string(i) + "]";
        if (!el.is_string())
            throw util::usage_error(where,
                                    label + " must be a string, found " + type_name(el.type()),
                                    "write module names as quoted strings, e.g. \"numpy\"");
        std::string name(*el.as_string());
        if (!is_module_name(name))
            throw util::usage_error(where, label + " \"" + name + "\" is not a Python module name",
                                    "write a dotted module name as in an import statement, e.g. "
                                    "\"numpy\" or \"mypkg.models\"");
        if (std::find(s.run.preload.begin(), s.run.preload.end(), name) != s.run.preload.end())
            throw util::usage_error(where, label + " \"" + name + "\" is listed twice",
                                    "remove the repeated entry");
        s.run.preload.push_back(std::move(name));
    }
}

void read_run(TableReader& r, Scenario& s) {
    r.reject_unknown_keys(kRunKeys);
    s.run.runs = r.integer("runs", 1, 1'000'000'000);
    s.run.jobs = r.integer("jobs", 0, 4096);
    if (const toml::node* n = r.get("seed")) {
        if (n->is_integer()) {
            s.run.seed = static_cast<std::uint64_t>(*r.integer("seed", 0, INT64_MAX));
        } else if (n->is_string()) {
            auto v = util::parse_hex64(std::string(*n->as_string()));
            if (!v)
                throw util::usage_error(r.where("seed"), "run.seed is not a seed",
                                        "use a non-negative integer or up to 16 hex digits");
            s.run.seed = *v;
        } else
            r.wrong_type("seed", *n, "an integer or a hex string");
    }
    s.run.start = r.choice("start", {"fresh", "fork-server"});
    read_preload(r, s);
    s.run.max_processes = r.integer("max_processes", 1, 1'000'000);
    s.run.memory_limit = r.size("memory_limit");
}

std::string default_name(const fs::path& file) {
    // scenarios/bank/scenario.toml is "bank": the generic stem says nothing.
    std::string stem = file.stem().string();
    if (stem == "scenario" && file.has_parent_path() &&
        !file.parent_path().filename().empty())
        return file.parent_path().filename().string();
    return stem;
}

} // namespace

Scenario parse_scenario(std::string_view text, const fs::path& file) {
    Scenario s;
    s.file = file.is_absolute() ? file : fs::absolute(file);
    s.file = s.file.lexically_normal();
    s.dir = s.file.parent_path();
    const std::string shown = file.string();

    toml::table root;
    try {
        root = toml::parse(text, shown);
    } catch (const toml::parse_error& e) {
        Location l{shown, static_cast<int>(e.source().begin.line),
                   static_cast<int>(e.source().begin.column)};
        throw util::usage_error(l.str(), "invalid TOML: " + std::string(e.description()));
    }

    TableReader top(root, "", shown, s);
    top.reject_unknown_keys(kRootKeys);
    s.name = top.string("name").value_or(default_name(s.file));
    if (s.name.empty())
        throw util::usage_error(top.where("name"), "name is empty");
    s.description = top.string("description").value_or("");

    auto workload = top.table("workload");
    if (!workload)
        throw util::usage_error(shown, "the scenario has no [workload] table",
                                "add [workload] with script = \"your_test.py\"");
    read_workload(*workload, s);
    if (auto j = top.table("jitter"))
        read_jitter(*j, s);
    if (auto c = top.table("check"))
        read_check(*c, s);
    if (auto r = top.table("run"))
        read_run(*r, s);
    return s;
}

Scenario load_scenario(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec))
        throw util::usage_error(file.string(), "scenario file not found",
                                "check the path; scenarios are TOML files");
    if (fs::is_directory(file, ec))
        throw util::usage_error(file.string(), "is a directory, not a scenario file",
                                "name the .toml file inside it");
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw util::usage_error(file.string(), "cannot read the scenario file",
                                "check its permissions");
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_scenario(ss.str(), file);
}

void check_scenario_files(const Scenario& s) {
    std::error_code ec;
    fs::path cwd = s.resolved_cwd();
    if (!fs::is_directory(cwd, ec))
        throw util::usage_error(s.where("workload.cwd").str(),
                                "working directory " + cwd.string() + " does not exist",
                                "workload.cwd is relative to the scenario file");
    if (s.kind == WorkloadKind::Script) {
        fs::path p(s.target);
        fs::path full = (p.is_absolute() ? p : s.dir / p).lexically_normal();
        if (!fs::is_regular_file(full, ec))
            throw util::usage_error(s.where("workload.script").str(),
                                    "script " + full.string() + " not found",
                                    "workload.script is relative to the scenario file");
    }
    if (s.kind == WorkloadKind::Pytest) {
        std::string path = s.target.substr(0, s.target.find("::"));
        fs::path p(path);
        fs::path full = (p.is_absolute() ? p : s.dir / p).lexically_normal();
        if (!fs::exists(full, ec))
            throw util::usage_error(s.where("workload.pytest").str(),
                                    "test path " + full.string() + " not found",
                                    "workload.pytest is relative to the scenario file");
    }
}

std::string scenario_to_toml(const Scenario& s) {
    auto strings = [](const std::vector<std::string>& v) {
        toml::array a;
        for (const auto& x : v)
            a.push_back(x);
        return a;
    };
    auto duration = [](Nanos d) { return util::format_duration(d); };

    toml::table root;
    root.insert("name", s.name);
    root.insert("description", s.description);

    toml::table w;
    if (s.kind == WorkloadKind::Command)
        w.insert("command", strings(s.command));
    else
        w.insert(to_string(s.kind), s.target);
    w.insert("args", strings(s.args));
    if (s.python.size() == 1)
        w.insert("python", s.python[0]);
    else
        w.insert("python", strings(s.python));
    w.insert("cwd", s.cwd);
    toml::table env;
    for (const auto& [k, v] : s.env)
        env.insert(k, v);
    w.insert("env", env);
    w.insert("timeout", duration(s.timeout));
    root.insert("workload", w);

    toml::table j;
    if (s.jitter.profile)
        j.insert("profile", *s.jitter.profile);
    if (auto si = s.jitter.switch_interval) {
        if (si->kind == SwitchInterval::Kind::Keep)
            j.insert("switch_interval", "keep");
        else if (si->kind == SwitchInterval::Kind::Random)
            j.insert("switch_interval", "random");
        else
            j.insert("switch_interval", si->seconds);
    }
    toml::table shim;
    if (s.jitter.shim_probability)
        shim.insert("probability", *s.jitter.shim_probability);
    if (s.jitter.shim_max_delay)
        shim.insert("max_delay", duration(*s.jitter.shim_max_delay));
    if (s.jitter.shim_starvation)
        shim.insert("starvation", *s.jitter.shim_starvation);
    if (s.jitter.shim_startup)
        shim.insert("startup", *s.jitter.shim_startup);
    if (!shim.empty())
        j.insert("shim", shim);
    toml::table y;
    if (s.jitter.yield_probability)
        y.insert("probability", *s.jitter.yield_probability);
    if (s.jitter.yield_granularity)
        y.insert("granularity", *s.jitter.yield_granularity);
    if (s.jitter.yield_focus)
        y.insert("focus", strings(*s.jitter.yield_focus));
    if (s.jitter.yield_sites)
        y.insert("sites", *s.jitter.yield_sites);
    if (!y.empty())
        j.insert("yields", y);
    toml::table a;
    if (s.jitter.loop_shuffle)
        a.insert("shuffle", *s.jitter.loop_shuffle);
    if (s.jitter.loop_defer)
        a.insert("defer", *s.jitter.loop_defer);
    if (!a.empty())
        j.insert("asyncio", a);
    if (s.jitter.mode)
        j.insert("mode", *s.jitter.mode);
    if (s.jitter.strategy)
        j.insert("strategy", *s.jitter.strategy);
    if (s.jitter.depth)
        j.insert("depth", *s.jitter.depth);
    if (s.jitter.max_steps)
        j.insert("max_steps", *s.jitter.max_steps);
    root.insert("jitter", j);

    toml::table c;
    c.insert("exit_code", s.check.exit_code);
    c.insert("thread_exceptions", s.check.thread_exceptions);
    c.insert("invariants", strings(s.check.invariants));
    c.insert("leaked_threads", s.check.leaked_threads);
    c.insert("asyncio_warnings", s.check.asyncio_warnings);
    if (s.check.max_memory_growth)
        c.insert("max_memory_growth", static_cast<std::int64_t>(*s.check.max_memory_growth));
    root.insert("check", c);

    toml::table r;
    if (s.run.runs)
        r.insert("runs", *s.run.runs);
    if (s.run.jobs)
        r.insert("jobs", *s.run.jobs);
    if (s.run.seed)
        r.insert("seed", util::hex64(*s.run.seed));
    if (s.run.start)
        r.insert("start", *s.run.start);
    if (!s.run.preload.empty())
        r.insert("preload", strings(s.run.preload));
    if (s.run.max_processes)
        r.insert("max_processes", *s.run.max_processes);
    if (s.run.memory_limit)
        r.insert("memory_limit", static_cast<std::int64_t>(*s.run.memory_limit));
    root.insert("run", r);

    std::ostringstream out;
    // Only basic (escaped) strings: toml++ 3.3 writes "\n" as a multi-line literal whose
    // first newline TOML then trims, or as a literal string holding a raw newline, which
    // does not parse (both found by the round-trip property).
    out << toml::toml_formatter(root, toml::toml_formatter::default_flags &
                                          ~toml::format_flags::allow_multi_line_strings &
                                          ~toml::format_flags::allow_literal_strings);
    return out.str() + "\n";
}

} // namespace racehunt
