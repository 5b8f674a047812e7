// One error type for everything a user can act on. Parsers throw it; one place prints it.
#pragma once
#include <stdexcept>
#include <string>

namespace util {

// What went wrong decides the exit status (see racehunt::ExitCode).
enum class ErrorKind {
    Usage,    // bad command line, bad scenario, missing files: nothing was run
    Internal, // the harness itself failed
};

class Error : public std::runtime_error {
public:
    // `where` is a place the user can open: "scenario.toml:14:1", "--runs", a path.
    Error(ErrorKind kind, std::string where, std::string message, std::string hint = {})
        : std::runtime_error(compose(where, message, hint)), kind_(kind),
          where_(std::move(where)), message_(std::move(message)), hint_(std::move(hint)) {}

    ErrorKind kind() const { return kind_; }
    const std::string& where() const { return where_; }
    const std::string& message() const { return message_; }
    const std::string& hint() const { return hint_; }

private:
    static std::string compose(const std::string& where, const std::string& message,
                               const std::string& hint) {
        std::string s = where.empty() ? message : where + ": " + message;
        if (!hint.empty())
            s += " (" + hint + ")";
        return s;
    }

    ErrorKind kind_;
    std::string where_, message_, hint_;
};

inline Error usage_error(std::string where, std::string message, std::string hint = {}) {
    return Error(ErrorKind::Usage, std::move(where), std::move(message), std::move(hint));
}

inline Error internal_error(std::string where, std::string message, std::string hint = {}) {
    return Error(ErrorKind::Internal, std::move(where), std::move(message), std::move(hint));
}

} // namespace util
