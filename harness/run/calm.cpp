#include "run/calm.hpp"
#include "protocol.h"

#include "util/file.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace racehunt {

namespace fs = std::filesystem;

Nanos cpu_time(const std::vector<pid_t>& pids) {
    static const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
    std::uint64_t ticks = 0;
    for (pid_t pid : pids) {
        const std::string stat = util::read_file(fs::path("/proc") / std::to_string(pid) / "stat");
        // The command name may hold spaces and parentheses: fields count from the last ')'.
        const auto close = stat.rfind(')');
        if (close == std::string::npos)
            continue;
        std::istringstream rest(stat.substr(close + 1));
        std::string field;
        // Fields 3 (state) to 13 (cmajflt), then 14 utime and 15 stime, in clock ticks.
        for (int i = 3; i <= 13 && rest >> field; ++i) {
        }
        std::uint64_t utime = 0, stime = 0;
        if (rest >> utime >> stime)
            ticks += utime + stime;
    }
    if (ticks_per_second <= 0)
        return Nanos{0};
    return Nanos{static_cast<std::int64_t>(ticks * (1'000'000'000ull / ticks_per_second))};
}

CalmPolicy calm_policy(Nanos timeout) {
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    CalmPolicy p;
    p.window = std::clamp<Nanos>(timeout / 20, milliseconds(100), milliseconds(300));
    p.grace = std::clamp<Nanos>(timeout / 2, seconds(2), seconds(30));
    return p;
}

namespace {

// Clears the armed bit of the shim's counters file of `pid`, if it has one and it is that
// process's (the same checks as the bootstrap's arming, in reverse).
void disarm_shim(const fs::path& run_dir, pid_t pid) {
    const fs::path file = run_dir / (RACEHUNT_FILE_SHIM_PREFIX + std::to_string(pid) +
                                     RACEHUNT_FILE_SHIM_COUNTERS_SUFFIX);
    const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    unsigned char head[RACEHUNT_SHIM_COUNTERS_OFF_FLAGS + 4];
    if (::pread(fd, head, sizeof head, 0) == static_cast<ssize_t>(sizeof head)) {
        std::uint32_t magic = 0, flags = 0;
        std::int32_t owner = 0;
        std::memcpy(&magic, head + RACEHUNT_SHIM_COUNTERS_OFF_MAGIC, 4);
        std::memcpy(&owner, head + RACEHUNT_SHIM_COUNTERS_OFF_PID, 4);
        std::memcpy(&flags, head + RACEHUNT_SHIM_COUNTERS_OFF_FLAGS, 4);
        if (magic == RACEHUNT_SHIM_MAGIC && owner == pid) {
            flags &= ~static_cast<std::uint32_t>(RACEHUNT_SHIM_FLAG_ARMED);
            (void)!::pwrite(fd, &flags, 4, RACEHUNT_SHIM_COUNTERS_OFF_FLAGS);
        }
    }
    ::close(fd);
}

} // namespace

void calm_run(const fs::path& run_dir, const std::vector<pid_t>& members, Nanos cpu, Nanos window) {
    using ms = std::chrono::milliseconds;
    const std::string note =
        "{\"cpu_ms\":" + std::to_string(std::chrono::duration_cast<ms>(cpu).count()) +
        ",\"window_ms\":" + std::to_string(std::chrono::duration_cast<ms>(window).count()) + "}\n";
    try {
        util::write_file_atomic(run_dir / RACEHUNT_FILE_CALM, note);
    } catch (const std::exception&) {
        // The shim is still disarmed below; the Python layers then go on perturbing, and
        // a run they slowed ends as a hang, as it did before calming existed.
    }
    for (pid_t pid : members)
        disarm_shim(run_dir, pid);
}

Nanos calm_or_kill(const fs::path& run_dir, const std::vector<pid_t>& members,
                   const CalmPolicy& policy) {
    const Nanos before = cpu_time(members);
    std::this_thread::sleep_for(policy.window);
    const Nanos used = cpu_time(members) - before;
    if (used < std::chrono::duration_cast<Nanos>(policy.window * policy.busy_share))
        return Nanos{0};
    calm_run(run_dir, members, used, policy.window);
    return policy.grace;
}

} // namespace racehunt
