// Fork-server starts ([run] start = "fork-server"): one Python server per worker slot starts
// the interpreter, the bootstrap and the scenario's preloads once; every run is a fork of
// it (docs/PROTOCOL.md, "Fork server"; injectors/python/_racehunt_server.py). Supervision
// of a run is the fresh runner's (supervise.hpp): only the spawn differs.
#pragma once
#include "run/process_runner.hpp"

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace racehunt {

struct ForkServerConfig {
    std::filesystem::path python;       // the interpreter (a run's argv[0])
    std::filesystem::path script;       // _racehunt_server.py
    std::map<std::string, std::string> env; // the server's environment at exec
    std::filesystem::path cwd;          // the runs' working directory
    std::vector<std::string> run_argv;  // a run's argv: sets the server's sys.path[0]
    std::vector<std::string> preload;   // modules the server imports once
    std::string preload_where;          // "file:line:col" of [run] preload, for errors
    Nanos start_timeout = std::chrono::seconds(60);
};

class ForkServerRunner final : public ProcessRunner {
public:
    explicit ForkServerRunner(ForkServerConfig config);
    ~ForkServerRunner() override;

    // Starts the first server and waits until it is ready: a preload that cannot be
    // imported or starts a thread is a usage error (util::Error) here, before any run.
    void start_first(const Cancellation* cancel = nullptr);

    RunResult run(const RunRequest& request, Cancellation& cancel) override;
    std::optional<StartStats> start_stats() const override;

    struct Stats {
        std::uint64_t forked = 0;    // runs started as forks
        std::uint64_t fresh = 0;     // runs that fell back to a fresh start
        std::uint64_t restarts = 0;  // servers started after one died
        std::uint64_t servers = 0;   // servers started in all
    };
    Stats stats() const;
    // Why runs no longer fork (empty while they do).
    std::string disabled_reason() const;

    class Server;

private:
    std::shared_ptr<Server> acquire(std::vector<std::string>& notes, const Cancellation& cancel);
    void release(std::shared_ptr<Server> server);
    std::shared_ptr<Server> start_server(const Cancellation* cancel);

    ForkServerConfig config_;
    mutable std::mutex mutex_;
    std::vector<std::shared_ptr<Server>> idle_;
    std::vector<std::shared_ptr<Server>> all_;
    std::string disabled_;
    std::atomic<std::uint64_t> forked_{0}, fresh_{0}, restarts_{0}, servers_{0};
};

} // namespace racehunt
