#include "run/probe.hpp"

#include "run/reaper.hpp"

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <boost/process/start_dir.hpp>

#include <cerrno>
#include <csignal>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace racehunt {

namespace bp = boost::process;
using Clock = std::chrono::steady_clock;

std::optional<ProbeResult> run_probe(const std::vector<std::string>& argv,
                                     std::chrono::milliseconds timeout,
                                     const std::map<std::string, std::string>& extra_env,
                                     const std::filesystem::path& cwd) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return std::nullopt;
    auto watch = std::make_shared<ExitWatch>();
    pid_t pid = 0;
    try {
        pid = Reaper::instance().spawn(
            [&] {
                bp::pipe out(-1, fds[1]);
                bp::environment env = boost::this_process::environment();
                for (const auto& [k, v] : extra_env)
                    env[k] = v;
                bp::child c(bp::exe = argv[0],
                            bp::args = std::vector<std::string>(argv.begin() + 1, argv.end()),
                            env, bp::start_dir = cwd.empty() ? std::string(".") : cwd.string(),
                            bp::std_in<bp::null, bp::std_out> out, bp::std_err > bp::null);
                pid_t p = c.id();
                c.detach();
                return p;
            },
            watch);
    } catch (const std::exception&) {
        ::close(fds[0]);
        return std::nullopt;
    }
    ProbeResult r;
    auto deadline = Clock::now() + timeout;
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno != EINTR)
            break;
        // Read only what is there: a blocking read on a silent child (a gdb stuck while
        // attaching) would outlive the timeout.
        if (ready <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n > 0 && r.output.size() < 65536)
            r.output.append(buf, static_cast<std::size_t>(n));
        else if (n == 0)
            break;
    }
    ::close(fds[0]);
    pollfd p{watch->fd(), POLLIN, 0};
    while (!watch->status()) {
        if (::poll(&p, 1, 5000) == 0)
            ::kill(pid, SIGKILL);
    }
    int st = *watch->status();
    if (WIFEXITED(st))
        r.exit_code = WEXITSTATUS(st);
    return r;
}

} // namespace racehunt
