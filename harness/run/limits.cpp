#include "run/limits.hpp"

#include "util/file.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace racehunt {

namespace fs = std::filesystem;

namespace {

// The directory under which racehunt makes its runs' cgroups, "" when there is none:
// <pids hierarchy>/<racehunt's own cgroup there>/racehunt-<pid>. Found once.
std::string base_dir(std::string* why) {
    static std::once_flag once;
    static std::string base, reason;
    std::call_once(once, [] {
        // Where the pids controller is mounted: a v1 hierarchy named by its options, or
        // a v2 hierarchy whose root offers "pids".
        std::ifstream mounts("/proc/self/mountinfo");
        std::string line, mount;
        bool v2 = false;
        while (std::getline(mounts, line)) {
            std::istringstream in(line);
            std::vector<std::string> f;
            for (std::string w; in >> w;)
                f.push_back(w);
            auto dash = std::find(f.begin(), f.end(), "-");
            if (dash == f.end() || dash + 3 > f.end() || f.size() < 5)
                continue;
            const std::string type = *(dash + 1);
            const std::string options = dash + 3 < f.end() ? *(dash + 3) : "";
            if (type == "cgroup" && ("," + options + ",").find(",pids,") != std::string::npos) {
                mount = f[4];
                v2 = false;
                break;
            }
            if (type == "cgroup2" && mount.empty()) {
                std::ifstream c(f[4] + "/cgroup.controllers");
                std::string ctl;
                while (c >> ctl)
                    if (ctl == "pids") {
                        mount = f[4];
                        v2 = true;
                    }
            }
        }
        if (mount.empty()) {
            reason = "no pids cgroup hierarchy is mounted";
            return;
        }
        // racehunt's own cgroup in that hierarchy.
        std::ifstream self("/proc/self/cgroup");
        std::string own;
        while (std::getline(self, line)) {
            auto a = line.find(':'), b = line.find(':', a + 1);
            if (a == std::string::npos || b == std::string::npos)
                continue;
            std::string ctl = line.substr(a + 1, b - a - 1);
            if ((!v2 && ("," + ctl + ",").find(",pids,") != std::string::npos) || (v2 && ctl.empty()))
                own = line.substr(b + 1);
        }
        std::string dir = mount + (own == "/" ? "" : own) + "/racehunt-" + std::to_string(::getpid());
        std::error_code ec;
        fs::create_directory(dir, ec);
        if (ec) {
            reason = "cannot make " + dir + ": " + ec.message();
            return;
        }
        if (v2) {
            // Children of a v2 cgroup get "pids" only when the parent delegates it.
            std::ofstream(dir + "/cgroup.subtree_control") << "+pids";
        }
        base = dir;
        // Removed at exit when empty (every run's cgroup is removed after the run).
        std::atexit([] { ::rmdir(base.c_str()); });
    });
    if (why)
        *why = reason;
    return base;
}

bool write_file(const std::string& path, const std::string& text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    return ok;
}

} // namespace

std::unique_ptr<RunCgroup> RunCgroup::create(const std::string& name, std::uint64_t max, std::string* why) {
    const std::string base = base_dir(why);
    if (base.empty())
        return nullptr;
    std::unique_ptr<RunCgroup> cg(new RunCgroup());
    cg->dir_ = base + "/" + name;
    std::error_code ec;
    fs::create_directory(cg->dir_, ec);
    if (ec || !write_file(cg->dir_ + "/pids.max", std::to_string(max))) {
        if (why)
            *why = "cannot set up " + cg->dir_ + (ec ? ": " + ec.message() : "");
        ::rmdir(cg->dir_.c_str());
        return nullptr;
    }
    cg->procs_ = cg->dir_ + "/cgroup.procs";
    cg->fd_ = ::open(cg->procs_.c_str(), O_WRONLY | O_CLOEXEC);
    return cg;
}

RunCgroup::~RunCgroup() {
    if (fd_ >= 0)
        ::close(fd_);
    // The run's supervision has killed its tree already; anything still here escaped it
    // (the cgroup holds processes that left the group and the token behind).
    for (int i = 0; i < 200; ++i) {
        if (::rmdir(dir_.c_str()) == 0 || errno == ENOENT)
            return;
        for (pid_t p : members())
            ::kill(p, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

std::vector<pid_t> RunCgroup::members() const {
    std::vector<pid_t> out;
    std::ifstream in(procs_);
    for (long p; in >> p;)
        if (p > 0)
            out.push_back(static_cast<pid_t>(p));
    return out;
}

std::uint64_t RunCgroup::limit_hits() const {
    std::ifstream in(dir_ + "/pids.events");
    std::string key;
    std::uint64_t n = 0;
    while (in >> key >> n)
        if (key == "max")
            return n;
    return 0;
}

} // namespace racehunt
