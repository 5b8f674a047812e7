// The real ProcessRunner: one run as a fresh process tree.
//
// Life of a run: spawn the root in its own process group (Boost.Process, argv only, stdin
// from /dev/null, stdout/stderr into pipes) -> pump output into capped files until the root
// exits, the timeout fires or the campaign is cancelled -> on timeout let the caller take
// stack dumps -> terminate every process of the run (SIGTERM, grace, SIGKILL) -> wait
// until none is left and the root is reaped -> drain the pipes.

// Boost.Process compiles its vfork executor (the bp::posix::use_vfork property) only when
// the feature macros say vfork is in the standard, which glibc's C++ defaults (POSIX 2008)
// do not; glibc still has vfork. Must come before any Boost header.
#define BOOST_POSIX_HAS_VFORK 1
#include "run/output_capture.hpp"
#include "run/proc_tree.hpp"
#include "run/process_runner.hpp"
#include "protocol.h"
#include "run/reaper.hpp"
#include "run/supervise.hpp"

#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/args.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <boost/process/start_dir.hpp>
#include <boost/process/posix.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace racehunt {

namespace bp = boost::process;
using Clock = std::chrono::steady_clock;

void Cancellation::cancel() {
    flag_.store(true, std::memory_order_release);
    std::lock_guard lock(mutex_);
    for (int fd : wakers_) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
    }
}

void Cancellation::add_waker(int fd) {
    std::lock_guard lock(mutex_);
    wakers_.push_back(fd);
    if (cancelled()) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
    }
}

void Cancellation::remove_waker(int fd) {
    std::lock_guard lock(mutex_);
    wakers_.erase(std::remove(wakers_.begin(), wakers_.end(), fd), wakers_.end());
}

namespace {

struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }
};

// Moves bytes from the run's pipes into their captures while waiting for something.
class Pump {
public:
    Pump(int out, int err, OutputCapture& cout, OutputCapture& cerr, int exit_fd, int wake_fd)
        : exit_fd_(exit_fd), wake_fd_(wake_fd) {
        streams_[0] = {out, &cout};
        streams_[1] = {err, &cerr};
    }

    // Pumps until `done()` holds (true) or `deadline` passes (false). `recheck` bounds the
    // time between evaluations of `done` for conditions no descriptor signals.
    template <class Done>
    bool until(Clock::time_point deadline, Done done,
               std::chrono::milliseconds recheck = std::chrono::milliseconds(1000)) {
        for (;;) {
            if (done())
                return true;
            auto now = Clock::now();
            if (now >= deadline)
                return false;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                        std::chrono::milliseconds(1);
            int ms = static_cast<int>(std::min(left, recheck).count());
            pollfd fds[4];
            nfds_t n = 0;
            for (auto& s : streams_)
                if (s.fd >= 0)
                    fds[n++] = {s.fd, POLLIN, 0};
            fds[n++] = {exit_fd_, POLLIN, 0};
            fds[n++] = {wake_fd_, POLLIN, 0};
            int r = ::poll(fds, n, ms);
            if (r < 0 && errno != EINTR)
                return false;
            drain_available();
            clear_event(exit_fd_);
            clear_event(wake_fd_);
        }
    }

    bool pipes_closed() const { return streams_[0].fd < 0 && streams_[1].fd < 0; }

    void close_pipes() {
        for (auto& s : streams_) {
            if (s.fd >= 0)
                ::close(s.fd);
            s.fd = -1;
        }
    }

private:
    struct Stream {
        int fd = -1;
        OutputCapture* capture = nullptr;
    };

    void drain_available() {
        char buf[65536];
        for (auto& s : streams_) {
            while (s.fd >= 0) {
                ssize_t n = ::read(s.fd, buf, sizeof buf);
                if (n > 0) {
                    s.capture->append(buf, static_cast<std::size_t>(n));
                    continue;
                }
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                    break;
                ::close(s.fd); // EOF: every writer is gone
                s.fd = -1;
            }
        }
    }

    static void clear_event(int fd) {
        std::uint64_t v;
        while (::read(fd, &v, sizeof v) > 0) {
        }
    }

    Stream streams_[2];
    int exit_fd_, wake_fd_;
};

void kill_all(const std::vector<pid_t>& pids, pid_t pgid, int sig) {
    ::kill(-pgid, sig);
    for (pid_t p : pids)
        ::kill(p, sig);
}

} // namespace

void reset_child_before_exec() {
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
}

pid_t spawn_fresh(const RunRequest& req, int out_sink, int err_sink,
                  const std::shared_ptr<ExitWatch>& watch, const RunLimits& limits) {
    const int cgroup_fd = limits.cgroup_procs_fd;
    const bool set_as = limits.memory_limit.has_value(), set_nproc = limits.nproc.has_value();
    const rlimit as{set_as ? *limits.memory_limit : 0, set_as ? *limits.memory_limit : 0};
    const rlimit nproc{set_nproc ? *limits.nproc : 0, set_nproc ? *limits.nproc : 0};
    bp::environment env;
    for (const auto& [k, v] : req.env)
        env[k] = v;
    std::vector<std::string> args(req.argv.begin() + 1, req.argv.end());
    return Reaper::instance().spawn(
        [&] {
            // The child's end of each pipe, duplicated: the caller closes its own copies,
            // so EOF arrives when the run's last writer is gone.
            bp::pipe out_pipe(-1, ::fcntl(out_sink, F_DUPFD_CLOEXEC, 3)),
                err_pipe(-1, ::fcntl(err_sink, F_DUPFD_CLOEXEC, 3));
            bp::child c(bp::exe = req.argv[0], bp::args = args, env,
                        bp::start_dir = req.cwd.string(), bp::std_in<bp::null,
                        bp::std_out> out_pipe,
                        bp::std_err > err_pipe,
                        // vfork: a fork of racehunt (its threads, its page tables) cost
                        // 1-3 ms per run in copy-on-write faults; the child only makes
                        // system calls before exec.
                        bp::posix::use_vfork,
                        bp::extend::on_exec_setup = [&](auto&) {
                            reset_child_before_exec();
                            if (cgroup_fd >= 0)
                                [[maybe_unused]] auto n = ::write(cgroup_fd, "0", 1);
                            if (set_nproc)
                                ::setrlimit(RLIMIT_NPROC, &nproc);
                            if (set_as)
                                ::setrlimit(RLIMIT_AS, &as);
                        });
            pid_t pid = c.id();
            c.detach();
            return pid;
        },
        watch);
}

RunResult supervise_run(const RunRequest& req, Cancellation& cancel, const SpawnFn& spawn) {
    RunResult result;
    int out_fds[2], err_fds[2];
    if (::pipe2(out_fds, O_CLOEXEC) != 0) {
        result.spawn_error = std::string("pipe2: ") + std::strerror(errno);
        return result;
    }
    Fd out_src(out_fds[0]), out_sink(out_fds[1]);
    if (::pipe2(err_fds, O_CLOEXEC) != 0) {
        result.spawn_error = std::string("pipe2: ") + std::strerror(errno);
        return result;
    }
    Fd err_src(err_fds[0]), err_sink(err_fds[1]);
    ::fcntl(out_src.fd, F_SETFL, O_NONBLOCK);
    ::fcntl(err_src.fd, F_SETFL, O_NONBLOCK);

    OutputCapture cout(req.run_dir / RACEHUNT_FILE_STDOUT, req.output_head, req.output_tail);
    OutputCapture cerr(req.run_dir / RACEHUNT_FILE_STDERR, req.output_head, req.output_tail);

    auto watch = std::make_shared<ExitWatch>();
    Fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    cancel.add_waker(wake.fd);
    struct Unregister {
        Cancellation& c;
        int fd;
        ~Unregister() { c.remove_waker(fd); }
    } unregister{cancel, wake.fd};

    // Limits: a pids cgroup for the run when the system offers one, RLIMIT_NPROC otherwise.
    RunLimits limits;
    limits.memory_limit = req.memory_limit;
    std::unique_ptr<RunCgroup> cgroup;
    if (req.max_processes) {
        static std::atomic<std::uint64_t> runs{0};
        cgroup = RunCgroup::create("run-" + std::to_string(runs.fetch_add(1)), *req.max_processes);
        if (cgroup) {
            limits.cgroup_procs_fd = cgroup->procs_fd();
            limits.cgroup_procs = cgroup->procs_path();
        } else {
            limits.nproc = req.max_processes;
            result.start_notes.push_back(
                "max_processes is enforced with RLIMIT_NPROC (no pids cgroup could be made), which "
                "counts every process of the user and does not bind root");
        }
    }

    try {
        result.root_pid = spawn(out_sink.fd, err_sink.fd, watch, limits, result);
    } catch (const std::exception& e) {
        result.spawn_error = e.what();
        result.cancelled = cancel.cancelled();
        return result;
    }
    // The timeout counts from here: starting a fork server for the run is racehunt's time.
    auto start = Clock::now();
    out_sink.reset();
    err_sink.reset();
    result.started = true;
    const pid_t pgid = result.root_pid;
    const std::string token_entry = "RACEHUNT_RUN_TOKEN=" + req.token;

    Pump pump(out_src.fd, err_src.fd, cout, cerr, watch->fd(), wake.fd);
    out_src.fd = err_src.fd = -1; // the pump owns them now

    // Phase 1: the workload runs.
    bool exited = pump.until(start + req.timeout, [&] {
        return watch->done() || cancel.cancelled();
    });
    exited = exited && watch->done();
    if (!exited && !cancel.cancelled() && req.on_timeout) {
        // Phase 1b: the caller may give the run more time (it calms a run it slowed).
        Nanos more{0};
        try {
            const auto members = run_members(pgid, token_entry);
            if (!members.empty())
                more = req.on_timeout(members);
        } catch (const std::exception&) {
            more = Nanos{0};
        }
        if (more > Nanos{0}) {
            result.overtime = more;
            exited = pump.until(Clock::now() + more, [&] {
                return watch->done() || cancel.cancelled();
            });
            exited = exited && watch->done();
        }
    }
    result.duration = std::chrono::duration_cast<Nanos>(Clock::now() - start);
    if (!exited) {
        if (cancel.cancelled())
            result.cancelled = true;
        else
            result.timed_out = true;
    }

    // Phase 2: stacks before the kill, then nothing of the run may survive.
    const auto phase2 = Clock::now();
    // The run's cgroup holds whatever escaped both the group and the token.
    auto all_members = [&] {
        auto m = run_members(pgid, token_entry);
        if (cgroup)
            for (pid_t p : cgroup->members())
                if (std::find(m.begin(), m.end(), p) == m.end())
                    m.push_back(p);
        return m;
    };
    auto members = all_members();
    if (exited)
        result.leftover_processes = static_cast<int>(members.size());
    if (result.timed_out && req.before_kill && !members.empty())
        try {
            req.before_kill(members);
        } catch (const std::exception&) {
            // Stacks are a bonus; killing the tree is not.
        }
    if (!members.empty()) {
        kill_all(members, pgid, SIGTERM);
        pump.until(Clock::now() + req.kill_grace, [&] { return all_members().empty(); },
                   std::chrono::milliseconds(10));
        auto kill_deadline = Clock::now() + std::chrono::seconds(5);
        bool gone = pump.until(kill_deadline,
                               [&] {
                                   auto left = all_members();
                                   if (left.empty())
                                       return true;
                                   kill_all(left, pgid, SIGKILL);
                                   return false;
                               },
                               std::chrono::milliseconds(10));
        if (!gone)
            result.unkillable_processes = static_cast<int>(all_members().size());
    }

    // Phase 3: the root's status, then whatever is still in the pipes.
    pump.until(Clock::now() + std::chrono::seconds(5), [&] { return watch->done(); });
    pump.until(Clock::now() + std::chrono::milliseconds(500),
               [&] { return pump.pipes_closed(); }, std::chrono::milliseconds(50));
    pump.close_pipes();
    result.teardown = std::chrono::duration_cast<Nanos>(Clock::now() - phase2);
    cout.finish();
    cerr.finish();
    result.out = {cout.bytes(), cout.omitted()};
    result.err = {cerr.bytes(), cerr.omitted()};

    if (watch->lost())
        result.status_lost = true;
    if (cgroup)
        result.process_limit_hits = cgroup->limit_hits();
    if (auto st = watch->status()) {
        if (WIFEXITED(*st))
            result.exit_code = WEXITSTATUS(*st);
        else if (WIFSIGNALED(*st))
            result.signal = WTERMSIG(*st);
    }
    return result;
}

namespace {

class PosixRunner final : public ProcessRunner {
public:
    RunResult run(const RunRequest& req, Cancellation& cancel) override {
        return supervise_run(req, cancel,
                             [&](int out, int err, const std::shared_ptr<ExitWatch>& watch,
                                 const RunLimits& limits, RunResult&) {
                                 return spawn_fresh(req, out, err, watch, limits);
                             });
    }
};

} // namespace

std::unique_ptr<ProcessRunner> make_posix_runner() {
    return std::make_unique<PosixRunner>();
}

} // namespace racehunt
