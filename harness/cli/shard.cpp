// Which slice of a campaign this process runs: --shard, or what a batch system says.
#include "cli/options.hpp"

#include "util/error.hpp"

#include <cerrno>
#include <cstdlib>

namespace racehunt {

std::pair<std::uint64_t, std::uint64_t> parse_shard(const std::string& text) {
    auto v = parse_k_of_n(text, INT64_MAX);
    if (!v)
        throw util::usage_error("--shard", "\"" + text + "\" is not a shard",
                                "write K/N with 1 <= K <= N, e.g. --shard 2/8");
    return {static_cast<std::uint64_t>(v->first), static_cast<std::uint64_t>(v->second)};
}

namespace {

std::optional<std::uint64_t> env_number(const std::function<const char*(const char*)>& getenv_,
                                        const char* name, const std::string& hint) {
    const char* v = getenv_(name);
    if (!v)
        return std::nullopt;
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-')
        throw util::usage_error(std::string("environment variable ") + name,
                                std::string("\"") + v + "\" is not a whole number", hint);
    return static_cast<std::uint64_t>(n);
}

} // namespace

Shard resolve_shard(const std::optional<std::string>& option,
                    const std::function<const char*(const char*)>& getenv_) {
    if (option) {
        auto [k, n] = parse_shard(*option);
        return {k, n, "--shard"};
    }
    if (const char* v = getenv_("RACEHUNT_SHARD")) {
        auto kn = parse_k_of_n(v, INT64_MAX);
        if (!kn)
            throw util::usage_error("environment variable RACEHUNT_SHARD",
                                    std::string("\"") + v + "\" is not a shard",
                                    "write K/N with 1 <= K <= N, e.g. RACEHUNT_SHARD=2/8");
        return {static_cast<std::uint64_t>(kn->first), static_cast<std::uint64_t>(kn->second),
                "RACEHUNT_SHARD"};
    }
    // Slurm job arrays: task ids may start anywhere (--array=5-12), so the shard is the id
    // counted from SLURM_ARRAY_TASK_MIN.
    if (getenv_("SLURM_ARRAY_TASK_ID")) {
        const std::string hint = "racehunt reads Slurm's array variables; run it inside sbatch --array";
        auto id = env_number(getenv_, "SLURM_ARRAY_TASK_ID", hint);
        auto count = env_number(getenv_, "SLURM_ARRAY_TASK_COUNT", hint);
        auto min = env_number(getenv_, "SLURM_ARRAY_TASK_MIN", hint).value_or(0);
        auto step = env_number(getenv_, "SLURM_ARRAY_TASK_STEP", hint).value_or(1);
        if (step == 0 || (*id >= min && (*id - min) % step != 0))
            throw util::usage_error("environment variable SLURM_ARRAY_TASK_ID",
                                    "task " + std::to_string(*id) + " is not on the array's step of " +
                                        std::to_string(step) + " from " + std::to_string(min),
                                    "use an array such as --array=0-7, or pass --shard K/N");
        if (!count || *count == 0 || *id < min || (*id - min) / step >= *count)
            throw util::usage_error("environment variable SLURM_ARRAY_TASK_ID",
                                    "task " + std::to_string(*id) + " is not one of " +
                                        std::to_string(count.value_or(0)) + " array tasks from " +
                                        std::to_string(min),
                                    "use a contiguous array (--array=0-7), or pass --shard K/N");
        return {(*id - min) / step + 1, *count, "Slurm array task " + std::to_string(*id)};
    }
    // Kubernetes Indexed Jobs give the 0-based index; the completion count is not in the
    // environment, so the manifest passes it.
    if (getenv_("JOB_COMPLETION_INDEX")) {
        const std::string hint = "set RACEHUNT_SHARD_COUNT to the Job's completions in the manifest";
        auto index = env_number(getenv_, "JOB_COMPLETION_INDEX", hint);
        auto count = env_number(getenv_, "RACEHUNT_SHARD_COUNT", hint);
        if (!count)
            throw util::usage_error("environment variable RACEHUNT_SHARD_COUNT",
                                    "JOB_COMPLETION_INDEX is set but the number of shards is not", hint);
        if (*count == 0 || *index >= *count)
            throw util::usage_error("environment variable JOB_COMPLETION_INDEX",
                                    "index " + std::to_string(*index) + " is not below RACEHUNT_SHARD_COUNT=" +
                                        std::to_string(*count),
                                    hint);
        return {*index + 1, *count, "Kubernetes completion index " + std::to_string(*index)};
    }
    return {};
}

} // namespace racehunt
