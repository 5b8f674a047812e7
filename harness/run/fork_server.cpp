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
#include "util/file.hpp"

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

// The last lines of a server's stderr, for an error message.
std::string log_tail(const fs::path& log, std::size_t max_bytes = 2000) {
    std::string text;
    try {
        text = util::read_file(log);
    } catch (const std::exception&) {
        return "";
    }
    if (text.size() > max_bytes)
        text = "..." + text.substr(text.size() - max_bytes);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
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
    fs::path log;
    std::shared_ptr<ExitWatch> watch = std::make_shared<ExitWatch>(); // the server itself

    ~Server() { stop(); }

    void start_reader() {
        reader_ = std::thread([this] { read_loop(); });
    }

    bool alive() {
        std::lock_guard lock(m_);
        return !eof_ && !watch->done();
    }

    // Waits for the next reply (not an exit report); nullopt on EOF or timeout.
    std::optional<json> wait_reply(Nanos timeout) {
        std::unique_lock lock(m_);
        cv_.wait_for(lock, timeout, [&] { return !replies_.empty() || eof_; });
        if (replies_.empty())
            return std::nullopt;
        json j = std::move(replies_.front());
        replies_.pop_front();
        return j;
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
    }

    void forget_pending() {
        std::lock_guard lock(m_);
        pending_.reset();
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

    void kill_now() {
        if (pid > 0) {
            ::kill(-pid, SIGKILL);
            ::kill(pid, SIGKILL);
        }
    }

private:
    void read_loop() {
        std::vector<char> buf(1 << 16);
        for (;;) {
            ssize_t n = ::recv(sock, buf.data(), buf.size(), 0);
            if (n < 0 && errno == EINTR)
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
                    Reaper::instance().adopt(child_, child_watch_);
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
        if (child_watch->done() || process_exists(child))
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (!child_watch->done() && !process_exists(child))
            child_watch->deliver_lost();
    }

    std::thread reader_;
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<json> replies_;
    bool eof_ = false;
    std::shared_ptr<ExitWatch> pending_;
    pid_t child_ = 0;
    std::shared_ptr<ExitWatch> child_watch_;
};

ForkServerRunner::ForkServerRunner(ForkServerConfig config) : config_(std::move(config)) {}

ForkServerRunner::~ForkServerRunner() {
    std::lock_guard lock(mutex_);
    for (auto& s : all_)
        s->stop();
}

std::shared_ptr<ForkServerRunner::Server> ForkServerRunner::start_server() {
    auto server = std::make_shared<Server>();
    const std::uint64_t n = servers_.fetch_add(1) + 1;
    std::error_code ec;
    fs::create_directories(config_.log_dir, ec);
    server->log = config_.log_dir / ("server-" + std::to_string(n) + ".log");

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        throw StartError(std::string("socketpair: ") + std::strerror(errno), "");
    server->sock = sv[0];
    const int sndbuf = 2 * static_cast<int>(kMaxRequest);
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    const int child_sock = sv[1];
    const int log_fd = ::open(server->log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

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
                            bp::std_out> bp::null,
                            bp::posix::use_vfork,
                            bp::extend::on_exec_setup = [&](auto&) {
                                // Only async-signal-safe calls between fork and exec.
                                ::setpgid(0, 0);
                                sigset_t none;
                                sigemptyset(&none);
                                ::sigprocmask(SIG_SETMASK, &none, nullptr);
                                ::signal(SIGPIPE, SIG_DFL);
                                if (log_fd >= 0)
                                    ::dup2(log_fd, 2);
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
        if (log_fd >= 0)
            ::close(log_fd);
        throw StartError(std::string("could not start ") + config_.python.string() + ": " + e.what(), "");
    }
    ::close(child_sock);
    if (log_fd >= 0)
        ::close(log_fd);
    server->start_reader();

    json hello = {{"hello",
                   {{"argv", config_.run_argv}, {"cwd", config_.cwd.string()}, {"preload", config_.preload}}}};
    if (!server->send(hello.dump()))
        throw StartError("the fork server exited before it could be configured: " + log_tail(server->log), "");
    auto reply = server->wait_reply(config_.start_timeout);
    if (!reply) {
        server->kill_now();
        std::string tail = log_tail(server->log);
        throw StartError("the fork server did not become ready" +
                             std::string(server->alive() ? " within the start-up timeout" : "") +
                             (tail.empty() ? "" : ": " + tail),
                         "");
    }
    if (reply->contains("error"))
        throw StartError(reply->value("error", "the fork server failed"), reply->value("module", ""));
    if (!reply->contains("ready"))
        throw StartError("the fork server answered " + reply->dump() + " instead of ready", "");
    std::lock_guard lock(mutex_);
    all_.push_back(server);
    return server;
}

void ForkServerRunner::start_first() {
    try {
        auto s = start_server();
        release(s);
    } catch (const StartError& e) {
        if (!e.module.empty())
            throw util::usage_error(config_.preload_where.empty() ? "[run] preload" : config_.preload_where,
                                    e.what(),
                                    e.module == "sitecustomize"
                                        ? "use start = \"fresh\", or stop the thread at start-up"
                                        : "remove \"" + e.module + "\" from [run] preload (runs then import it "
                                          "themselves), or use start = \"fresh\"");
        throw util::usage_error("[run] start", e.what(), "use start = \"fresh\"");
    }
}

std::shared_ptr<ForkServerRunner::Server> ForkServerRunner::acquire(std::vector<std::string>& notes) {
    {
        std::lock_guard lock(mutex_);
        if (!disabled_.empty())
            return nullptr;
        while (!idle_.empty()) {
            auto s = idle_.back();
            idle_.pop_back();
            if (s->alive())
                return s;
            notes.push_back("racehunt's fork server (pid " + std::to_string(s->pid) +
                            ") had died; a new one was started for this run");
            restarts_++;
            all_.erase(std::remove(all_.begin(), all_.end(), s), all_.end());
            // Stopped outside the lock below.
            std::thread([s] { s->stop(); }).detach();
        }
        if (!disabled_.empty())
            return nullptr;
    }
    try {
        return start_server();
    } catch (const StartError& e) {
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
            server = acquire(res.start_notes);
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
                reply = server->wait_reply(std::chrono::seconds(30));
            if (reply && reply->contains("forked")) {
                res.start = "fork-server";
                forked_++;
                return reply->at("forked").get<pid_t>();
            }
            server->forget_pending();
            if (reply && reply->contains("refused_run")) {
                // Something about this run only (its directory is gone, say): a fresh
                // start reports it as a fresh start would.
                release(server);
                server.reset();
                break;
            }
            if (reply && reply->contains("refused")) {
                std::lock_guard lock(mutex_);
                disabled_ = "the fork server refused a run: " + reply->value("refused", "");
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
            res.start_notes.push_back("racehunt's fork server (pid " + std::to_string(server->pid) +
                                      ") died while starting this run; the run was started again");
            restarts_++;
            {
                std::lock_guard lock(mutex_);
                all_.erase(std::remove(all_.begin(), all_.end(), server), all_.end());
            }
            server->stop();
            server.reset();
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

} // namespace racehunt
