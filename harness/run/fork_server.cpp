// The fork-server runner. Each server is a Python process racehunt starts (with Boost.Process,
// through the reaper, in a process group of its own) and talks to over a SOCK_SEQPACKET
// socket: one JSON object per message, a run's stdout/stderr pipes passed as descriptors.
// A reader thread per server takes its messages: replies to requests go to the requesting
// run; a child's exit status goes straight to that run's ExitWatch.
//
// What can go wrong, and what racehunt does:
// - the server dies while idle: the next run finds it dead (send fails, or EOF was seen),
//   starts a new one and says so in that run's warnings;
// - the server dies after a request was sent, before answering: any process carrying the
//   run's token is killed, the files it left in the run directory are removed, and the run
//   is started again from a new server;
// - the server dies while its child runs: the child is re-parented to racehunt (a child
//   subreaper), whose reaper was told to watch it (Reaper::adopt), so the run ends with
//   its real status; only when the server reaped the child and died before reporting is
//   the status lost, and the run is racehunt's error, never the workload's;
// - the server refuses (it is no longer single-threaded) or cannot start: runs start fresh
//   from then on, and say so.
#define BOOST_POSIX_HAS_VFORK 1
#include "run/fork_server.hpp"

#include "run/proc_tree.hpp"
#include "run/reaper.hpp"
#include "run/supervise.hpp"
#include "protocol.h"
#include "util/error.hpp"

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/posix.hpp>
#include <boost/process/start_dir.hpp>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <optional>
#include <set>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace racehunt {

namespace bp = boost::process;
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// A request travels as one datagram, which must fit the socket's send buffer (208 KiB by
// default on Linux; racehunt asks for more, which the system may cap).
constexpr std::size_t kMaxRequest = 160 * 1024;

bool process_exists(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno == EPERM;
}

struct StartError : std::runtime_error {
    StartError(const std::string& what, std::string module_name)
        : std::runtime_error(what), module(std::move(module_name)) {}
    std::string module;
};

} // namespace

class ForkServerRunner::Server {
public:
    pid_t pid = 0;
    int sock = -1;
    int err = -1; // read end of the server's stdout/stderr pipe (non-blocking)
    std::shared_ptr<ExitWatch> watch = std::make_shared<ExitWatch>(); // the server itself

    ~Server() { stop(); }

    void start_reader() {
        reader_ = std::thread([this] { read_loop(); });
    }

    bool alive() {
        std::lock_guard lock(m_);
        return !eof_ && !watch->done();
    }

    // Waits for the next reply (not an exit report); nullopt on EOF, timeout or `cancel`.
    std::optional<json> wait_reply(Nanos timeout, const Cancellation* cancel) {
        const auto deadline = Clock::now() + timeout;
        std::unique_lock lock(m_);
        while (replies_.empty() && !eof_ && Clock::now() < deadline) {
            if (cancel && cancel->cancelled())
                return std::nullopt;
            cv_.wait_for(lock, std::chrono::milliseconds(50));
        }
        if (replies_.empty())
            return std::nullopt;
        json j = std::move(replies_.front());
        replies_.pop_front();
        return j;
    }

    // The last of what the server wrote to its stdout/stderr.
    std::string output() {
        std::lock_guard lock(m_);
        drain_output();
        std::string text = output_;
        while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
            text.pop_back();
        return text;
    }

    bool send(const std::string& text, const int* fds = nullptr, int nfds = 0) {
        iovec iov{const_cast<char*>(text.data()), text.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
        if (nfds > 0) {
            msg.msg_control = control;
            msg.msg_controllen = CMSG_SPACE(static_cast<std::size_t>(nfds) * sizeof(int));
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(static_cast<std::size_t>(nfds) * sizeof(int));
            std::memcpy(CMSG_DATA(c), fds, static_cast<std::size_t>(nfds) * sizeof(int));
        }
        for (;;) {
            ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
            if (n >= 0)
                return static_cast<std::size_t>(n) == text.size();
            if (errno != EINTR)
                return false;
        }
    }

    // The watch that the child of the next request reports to.
    void expect_child(std::shared_ptr<ExitWatch> w) {
        std::lock_guard lock(m_);
        pending_ = std::move(w);
        requested_ = Clock::now();
    }

    // The request failed: whatever child the server may have reported for it is given up
    // (its status must not reach the run, which starts again elsewhere).
    void abandon_request() {
        std::lock_guard lock(m_);
        pending_.reset();
        if (child_ && child_watch_)
            Reaper::instance().release(child_, child_watch_);
        child_ = 0;
        child_watch_.reset();
    }

    // Ends the server: EOF on its socket makes it exit; a server that does not is killed.
    void stop() {
        if (sock >= 0)
            ::shutdown(sock, SHUT_RDWR);
        if (reader_.joinable())
            reader_.join();
        if (sock >= 0)
            ::close(sock);
        sock = -1;
        if (err >= 0)
            ::close(err);
        err = -1;
        if (pid > 0) {
            auto deadline = Clock::now() + std::chrono::seconds(2);
            while (!watch->done() && Clock::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            if (!watch->done()) {
                ::kill(-pid, SIGKILL);
                ::kill(pid, SIGKILL);
                deadline = Clock::now() + std::chrono::seconds(5);
                while (!watch->done() && Clock::now() < deadline)
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        }
        pid = 0;
    }

    // Only while the server is not reaped: afterwards its pid may be another process's.
    void kill_now() {
        if (pid > 0 && !watch->done()) {
            ::kill(-pid, SIGKILL);
            ::kill(pid, SIGKILL);
        }
    }

private:
    // Keeps the last few KiB of the server's own output (its errors), so that a server
    // that writes much never blocks on a full pipe.
    void drain_output() {
        char chunk[4096];
        for (;;) {
            ssize_t n = err >= 0 && !err_eof_ ? ::read(err, chunk, sizeof chunk) : -1;
            if (n == 0)
                err_eof_ = true; // the server is gone: stop polling the pipe
            if (n <= 0)
                break;
            output_.append(chunk, static_cast<std::size_t>(n));
            if (output_.size() > 8192)
                output_.erase(0, output_.size() - 4096);
        }
    }

    void read_loop() {
        std::vector<char> buf(1 << 16);
        for (;;) {
            pollfd fds[2] = {{sock, POLLIN, 0}, {err, POLLIN, 0}};
            bool poll_err;
            {
                std::lock_guard lock(m_);
                poll_err = err >= 0 && !err_eof_;
            }
            if (::poll(fds, poll_err ? 2 : 1, -1) < 0 && errno != EINTR)
                break;
            if (poll_err && fds[1].revents) {
                std::lock_guard lock(m_);
                drain_output();
            }
            if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = ::recv(sock, buf.data(), buf.size(), MSG_DONTWAIT);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0)
                break;
            json j = json::parse(buf.data(), buf.data() + n, nullptr, false);
            auto pid_of = [&](const char* key) {
                const auto it = j.find(key);
                return it != j.end() && it->is_number_integer() && it->get<long long>() > 0
                           ? static_cast<pid_t>(it->get<long long>())
                           : pid_t{0};
            };
            if (j.is_discarded() || !j.is_object() || (j.contains("forked") && !pid_of("forked")) ||
                (j.contains("exit") && (!pid_of("exit") || !j.value("status", json()).is_number_integer()))) {
                kill_now(); // a server that says nonsense is not trusted with runs
                break;
            }
            std::lock_guard lock(m_);
            if (j.contains("exit")) {
                const pid_t p = pid_of("exit");
                if (p == child_ && child_watch_) {
                    child_watch_->deliver(j["status"].get<int>());
                    Reaper::instance().release(p, child_watch_);
                    child_ = 0;
                    child_watch_.reset();
                }
                continue;
            }
            if (j.contains("forked")) {
                child_ = pid_of("forked");
                child_watch_ = std::move(pending_);
                pending_.reset();
                if (child_watch_)
                    Reaper::instance().adopt(child_, child_watch_, requested_);
            }
            replies_.push_back(std::move(j));
            cv_.notify_all();
        }
        pid_t child;
        std::shared_ptr<ExitWatch> child_watch;
        {
            std::lock_guard lock(m_);
            eof_ = true;
            cv_.notify_all();
            child = child_;
            child_watch = child_watch_;
        }
        if (!child || !child_watch)
            return;
        // The server is gone with a run in flight. Once the server itself is reaped its
        // children are re-parented to racehunt, and the reaper delivers the run's status.
        // A child that no longer exists by then was reaped by the server: its status is lost.
        auto deadline = Clock::now() + std::chrono::seconds(5);
        while (!watch->done() && Clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        // A child that is gone may still be on its way through the reaper (which may be
        // busy): give it time before calling its status lost.
        deadline = Clock::now() + std::chrono::seconds(3);
        while (Clock::now() < deadline) {
            if (child_watch->done() || process_exists(child))
                return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!child_watch->done() && !process_exists(child))
            child_watch->deliver_lost();
    }

    std::thread reader_;
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<json> replies_;
    bool eof_ = false;
    std::shared_ptr<ExitWatch> pending_;
    Clock::time_point requested_{};
    std::string output_;
    bool err_eof_ = false;
    pid_t child_ = 0;
    std::shared_ptr<ExitWatch> child_watch_;
};

ForkServerRunner::ForkServerRunner(ForkServerConfig config) : config_(std::move(config)) {}

ForkServerRunner::~ForkServerRunner() {
    std::lock_guard lock(mutex_);
    for (auto& s : all_)
        s->stop();
}

std::shared_ptr<ForkServerRunner::Server> ForkServerRunner::start_server(const Cancellation* cancel) {
    auto server = std::make_shared<Server>();
    servers_.fetch_add(1);

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        throw StartError(std::string("socketpair: ") + std::strerror(errno), "");
    server->sock = sv[0];
    const int sndbuf = 2 * static_cast<int>(kMaxRequest);
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    const int child_sock = sv[1];
    // The server's stdout and stderr are a pipe, as a fresh run's are: the standard stream
    // objects a forked run inherits then behave as a fresh run's (not seekable, not a tty).
    int out_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        ::close(child_sock);
        throw StartError(std::string("pipe2: ") + std::strerror(errno), "");
    }
    server->err = out_pipe[0];
    ::fcntl(server->err, F_SETFL, O_NONBLOCK);
    const int stdio_fd = out_pipe[1];

    bp::environment env;
    for (const auto& [k, v] : config_.env)
        env[k] = v;
    env[RACEHUNT_ENV_FORK_SERVER] = "3";
    env[RACEHUNT_ENV_RUN_TOKEN] = std::string(RACEHUNT_FORK_TOKEN_PLACEHOLDER, '_');
    try {
        server->pid = Reaper::instance().spawn(
            [&] {
                bp::child c(bp::exe = config_.python.string(), bp::args = {config_.script.string()},
                            env, bp::start_dir = config_.cwd.string(), bp::std_in<bp::null,
                            bp::posix::use_vfork,
                            bp::extend::on_exec_setup = [&](auto&) {
                                reset_child_before_exec();
                                ::dup2(stdio_fd, 1);
                                ::dup2(stdio_fd, 2);
                                if (child_sock == 3)
                                    ::fcntl(3, F_SETFD, 0);
                                else
                                    ::dup2(child_sock, 3);
                            });
                pid_t pid = c.id();
                c.detach();
                return pid;
            },
            server->watch);
    } catch (const std::exception& e) {
        ::close(child_sock);
        ::close(stdio_fd);
        throw StartError(std::string("could not start ") + config_.python.string() + ": " + e.what(), "");
    }
    ::close(child_sock);
    ::close(stdio_fd);
    server->start_reader();

    json hello = {{"hello",
                   {{"argv", config_.run_argv}, {"cwd", config_.cwd.string()}, {"preload", config_.preload}}}};
    if (!server->send(hello.dump())) {
        server->stop();
        throw StartError("the fork server exited before it could be configured: " + server->output(), "");
    }
    auto reply = server->wait_reply(config_.start_timeout, cancel);
    if (!reply) {
        const bool cancelled = cancel && cancel->cancelled();
        const bool alive = server->alive();
        server->kill_now();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::string tail = server->output();
        server->stop();
        throw StartError(cancelled ? "interrupted while the fork server started"
                                   : "the fork server did not become ready" +
                                         std::string(alive ? " within the start-up timeout" : "") +
                                         (tail.empty() ? "" : ": " + tail),
                         "");
    }
    if (reply->contains("error") || !reply->contains("ready")) {
        server->stop();
        const json& e = (*reply)["error"];
        const json& m = (*reply)["module"];
        throw StartError(e.is_string() ? e.get<std::string>() : "the fork server answered " + reply->dump(),
                         m.is_string() ? m.get<std::string>() : "");
    }
    std::lock_guard lock(mutex_);
    all_.push_back(server);
    return server;
}

void ForkServerRunner::start_first(const Cancellation* cancel) {
    try {
        auto s = start_server(cancel);
        release(s);
    } catch (const StartError& e) {
        if (!e.module.empty())
            throw util::usage_error(config_.preload_where.empty() ? "[run] preload" : config_.preload_where,
                                    e.what(),
                                    e.module == "sitecustomize"
                                        ? "use start = \"fresh\", or stop the thread at start-up"
                                        : "remove \"" + e.module + "\" from [run] preload (runs then import it "
                                          "themselves), or use start = \"fresh\"");
        if (cancel && cancel->cancelled())
            throw util::usage_error("[run] start", e.what());
        throw util::usage_error("[run] start", e.what(), "use start = \"fresh\"");
    }
}

std::shared_ptr<ForkServerRunner::Server> ForkServerRunner::acquire(std::vector<std::string>& notes,
                                                                     const Cancellation& cancel) {
    std::vector<std::shared_ptr<Server>> dead;
    std::shared_ptr<Server> found;
    {
        std::lock_guard lock(mutex_);
        if (!disabled_.empty())
            return nullptr;
        while (!idle_.empty() && !found) {
            auto s = idle_.back();
            idle_.pop_back();
            if (s->alive()) {
                found = s;
                break;
            }
            notes.push_back("racehunt's fork server (pid " + std::to_string(s->pid) +
                            ") had died; a new one was started for this run");
            restarts_++;
            all_.erase(std::remove(all_.begin(), all_.end(), s), all_.end());
            dead.push_back(s);
        }
    }
    for (auto& s : dead)
        s->stop(); // outside the lock: it waits for the dead server to be reaped
    if (found)
        return found;
    try {
        return start_server(&cancel);
    } catch (const StartError& e) {
        if (cancel.cancelled())
            throw std::runtime_error("interrupted while a fork server started");
        std::lock_guard lock(mutex_);
        disabled_ = std::string("a fork server could not be started: ") + e.what();
        notes.push_back(disabled_ + "; runs start fresh from now on");
        return nullptr;
    }
}

void ForkServerRunner::release(std::shared_ptr<Server> server) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(server));
}

RunResult ForkServerRunner::run(const RunRequest& req, Cancellation& cancel) {
    std::shared_ptr<Server> server;
    RunResult result = supervise_run(req, cancel, [&](int out, int err,
                                                      const std::shared_ptr<ExitWatch>& watch,
                                                      const RunLimits& limits, RunResult& res) -> pid_t {
        std::string text;
        try {
            json run = {{"argv", req.argv}, {"env", req.env}, {"cwd", req.cwd.string()}};
            if (limits.memory_limit)
                run["memory_limit"] = *limits.memory_limit;
            if (limits.nproc)
                run["nproc"] = *limits.nproc;
            if (!limits.cgroup_procs.empty())
                run["cgroup_procs"] = limits.cgroup_procs;
            text = json{{"run", run}}.dump();
        } catch (const json::exception&) {
            res.start_notes.push_back("the run's environment or arguments are not UTF-8, which the "
                                      "fork server protocol needs; this run started fresh");
            text.clear();
        }
        if (text.size() > kMaxRequest) {
            res.start_notes.push_back("the run's environment and arguments take " + std::to_string(text.size()) +
                                      " bytes, more than a fork server request holds; this run started fresh");
            text.clear();
        }
        for (int attempt = 0; !text.empty() && attempt < 3; ++attempt) {
            server = acquire(res.start_notes, cancel);
            if (!server)
                break;
            std::set<std::string> before;
            std::error_code ec;
            for (const auto& e : fs::directory_iterator(req.run_dir, ec))
                before.insert(e.path().filename().string());
            server->expect_child(watch);
            const int fds[2] = {out, err};
            std::optional<json> reply;
            if (server->send(text, fds, 2))
                reply = server->wait_reply(std::chrono::seconds(30), &cancel);
            if (reply && reply->contains("forked")) {
                res.start = "fork-server";
                forked_++;
                return reply->at("forked").get<pid_t>();
            }
            server->abandon_request();
            if (reply && reply->contains("refused_run")) {
                // Something about this run only (its directory is gone, say): a fresh
                // start reports it as a fresh start would.
                release(server);
                server.reset();
                break;
            }
            if (reply && reply->contains("refused")) {
                std::lock_guard lock(mutex_);
                const json& why = (*reply)["refused"];
                disabled_ = "the fork server refused a run: " + (why.is_string() ? why.get<std::string>() : why.dump());
                res.start_notes.push_back(disabled_ + "; runs start fresh from now on");
                idle_.push_back(server);
                server.reset();
                break;
            }
            // The server died (or hung) with the request in its hands: whatever it may have
            // started goes, and so does what that left in the run's directory.
            server->kill_now();
            for (int i = 0; i < 50; ++i) {
                auto left = token_holders("RACEHUNT_RUN_TOKEN=" + req.token);
                if (left.empty())
                    break;
                for (pid_t p : left)
                    ::kill(p, SIGKILL);
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            for (const auto& e : fs::directory_iterator(req.run_dir, ec))
                if (!before.count(e.path().filename().string()))
                    fs::remove_all(e.path(), ec);
            const bool interrupted = cancel.cancelled();
            if (!interrupted) {
                res.start_notes.push_back("racehunt's fork server (pid " + std::to_string(server->pid) +
                                          ") died while starting this run; the run was started again");
                restarts_++;
            }
            {
                std::lock_guard lock(mutex_);
                all_.erase(std::remove(all_.begin(), all_.end(), server), all_.end());
            }
            server->stop();
            server.reset();
            if (interrupted)
                throw std::runtime_error("interrupted while a fork server started the run");
        }
        res.start = "fresh";
        fresh_++;
        return spawn_fresh(req, out, err, watch, limits);
    });
    if (server) {
        if (!server->alive()) {
            result.start_notes.push_back("racehunt's fork server (pid " + std::to_string(server->pid) +
                                         ") died during this run" +
                                         std::string(result.status_lost ? "" :
                                                     "; the run's status came through racehunt's reaper"));
        }
        release(std::move(server));
    }
    return result;
}

ForkServerRunner::Stats ForkServerRunner::stats() const {
    Stats s;
    s.forked = forked_.load();
    s.fresh = fresh_.load();
    s.restarts = restarts_.load();
    s.servers = servers_.load();
    return s;
}

std::string ForkServerRunner::disabled_reason() const {
    std::lock_guard lock(mutex_);
    return disabled_;
}

std::optional<StartStats> ForkServerRunner::start_stats() const {
    const Stats st = stats();
    return StartStats{st.forked, st.fresh, st.restarts, disabled_reason()};
}

} // namespace racehunt
