#include "run/proc_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace racehunt {

namespace {

// Reads a small /proc file into `buf`; returns the length, or -1.
ssize_t read_file(const char* path, char* buf, std::size_t size) {
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    std::size_t total = 0;
    while (total < size) {
        ssize_t n = ::read(fd, buf + total, size - total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        total += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return static_cast<ssize_t>(total);
}

std::vector<pid_t> all_pids() {
    std::vector<pid_t> out;
    DIR* d = ::opendir("/proc");
    if (!d)
        return out;
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        long v = std::strtol(e->d_name, &end, 10);
        if (end && *end == '\0' && v > 0)
            out.push_back(static_cast<pid_t>(v));
    }
    ::closedir(d);
    return out;
}

// Direct children of racehunt, from every thread's children list: the subreaper receives
// orphans here.
std::vector<pid_t> own_children() {
    std::vector<pid_t> out;
    DIR* d = ::opendir("/proc/self/task");
    if (!d)
        return out;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        std::snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
        char buf[8192];
        ssize_t n = read_file(path, buf, sizeof buf - 1);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        char* p = buf;
        while (*p) {
            char* end = nullptr;
            long v = std::strtol(p, &end, 10);
            if (end == p)
                break;
            out.push_back(static_cast<pid_t>(v));
            p = end;
        }
    }
    ::closedir(d);
    return out;
}

} // namespace

bool read_proc_info(pid_t pid, ProcInfo& out) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    char buf[1024];
    ssize_t n = read_file(path, buf, sizeof buf - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    char* rp = std::strrchr(buf, ')');
    if (!rp)
        return false;
    char state = '?';
    int ppid = 0, pgid = 0;
    if (std::sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgid) != 3)
        return false;
    out.pid = pid;
    out.ppid = ppid;
    out.pgid = pgid;
    out.state = state;
    return true;
}

bool environ_has(pid_t pid, const std::string& entry) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/environ", static_cast<int>(pid));
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    // Stream the NUL-separated entries; environments can be large.
    std::string current;
    bool found = false;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && !found; ++i) {
            if (buf[i] == '\0') {
                found = current == entry;
                current.clear();
            } else if (current.size() <= entry.size()) {
                current += buf[i];
            }
        }
        if (found)
            break;
    }
    if (!found && current == entry)
        found = true;
    ::close(fd);
    return found;
}

std::vector<pid_t> token_holders(const std::string& token_entry) {
    std::vector<pid_t> out;
    const pid_t self = ::getpid();
    for (pid_t p : all_pids()) {
        ProcInfo info;
        if (p != self && read_proc_info(p, info) && info.state != 'Z' && environ_has(p, token_entry))
            out.push_back(p);
    }
    return out;
}

std::vector<pid_t> run_members(pid_t pgid, const std::string& token_entry, bool include_zombies) {
    // Fast path: an empty process group and no unknown orphans of ours means nothing is left.
    bool group_alive = ::kill(-pgid, 0) == 0 || errno == EPERM;
    std::vector<pid_t> seeds;
    for (pid_t c : own_children()) {
        ProcInfo info;
        if (!read_proc_info(c, info))
            continue;
        if (info.pgid == pgid || environ_has(c, token_entry))
            seeds.push_back(c);
    }
    if (!group_alive && seeds.empty())
        return {};

    // Slow path: scan /proc, take the group's members and our orphans carrying the token,
    // then close over descendants (a daemon that cleared its environment still descends
    // from one of them).
    std::map<pid_t, ProcInfo> procs;
    for (pid_t p : all_pids()) {
        ProcInfo info;
        if (read_proc_info(p, info))
            procs[p] = info;
    }
    std::set<pid_t> members(seeds.begin(), seeds.end());
    const pid_t self = ::getpid();
    for (auto& [pid, info] : procs) {
        if (pid == self)
            continue;
        if (info.pgid == pgid)
            members.insert(pid);
    }
    // A process that left the group (setsid) is either a descendant of a member, found by
    // the closure below, or an orphan re-parented to us, found by its token above.
    bool grew = true;
    while (grew) {
        grew = false;
        for (auto& [pid, info] : procs) {
            if (!members.count(pid) && members.count(info.ppid)) {
                members.insert(pid);
                grew = true;
            }
        }
    }
    std::vector<pid_t> out;
    for (pid_t p : members) {
        auto it = procs.find(p);
        if (it == procs.end())
            continue;
        if (!include_zombies && it->second.state == 'Z')
            continue;
        out.push_back(p);
    }
    return out;
}

std::string proc_cmdline(pid_t pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/cmdline", static_cast<int>(pid));
    char buf[4096];
    ssize_t n = read_file(path, buf, sizeof buf);
    if (n <= 0)
        return "";
    std::string s(buf, static_cast<std::size_t>(n));
    while (!s.empty() && s.back() == '\0')
        s.pop_back();
    std::replace(s.begin(), s.end(), '\0', ' ');
    return s;
}

} // namespace racehunt
